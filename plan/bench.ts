// `npm run bench`: wall time of the offline plan of each stack against the floor of merely loading
// the five Pulumi SDKs, and the deploy's critical path under latency-injecting mocks
// (plan/critical-path.ts). Prints figures; asserts nothing (not a test).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CriticalPath, INVOKE_SECONDS, measureCriticalPath, MODEL_SECONDS } from "./critical-path";
import { stackConfigFromFiles } from "./run";

const ROOT = path.resolve(__dirname, "..", "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SDKS = ["@pulumi/pulumi", "@pulumi/hcloud", "@pulumi/cloudflare", "@pulumi/tailscale", "@pulumi/command"];
const STACKS = ["staging", "production", "pr-7"];

function timed(args: string[]): { ms: number; stdout: string } {
    const start = process.hrtime.bigint();
    const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (run.status !== 0) throw new Error(`${args.join(" ")} failed:\n${run.stderr}`);
    return { ms, stdout: run.stdout };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** "Server 40, Volume 5, ...": the latency model, as the table's caption. */
const modelTimes = (): string =>
    [...Object.entries(MODEL_SECONDS).filter(([, seconds]) => seconds > 0).map(([type, seconds]) => `${type.slice(type.lastIndexOf(":") + 1)} ${seconds}`), `invoke ${INVOKE_SECONDS}`].join(", ");

async function main(): Promise<void> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-"));
    try {
        timed([path.join(ROOT, "launch.js")]); // build once, outside the measurements
        // Floor and plans interleaved, run by run, so a machine that gets busier or quieter during
        // the bench shifts both alike; medians per column.
        const floorArgs = ["-e", SDKS.map((m) => `require(${JSON.stringify(m)});`).join("")];
        // A pinned version: the bench measures the program, not a read of the app's checkout.
        const planArgs = (stack: string) => [path.join(ROOT, "launch.js"), "plan/cli", "--stack", stack, "--out", path.join(tmp, stack), "--set", "appVersion=bench"];
        const floorRuns: number[] = [];
        const planRuns = new Map(STACKS.map((stack) => [stack, [] as { ms: number; stdout: string }[]]));
        for (let i = 0; i < RUNS; i++) {
            floorRuns.push(timed(floorArgs).ms);
            for (const stack of STACKS) planRuns.get(stack)!.push(timed(planArgs(stack)));
        }
        const floor = median(floorRuns);
        const rows = STACKS.map((stack) => {
            const runs = planRuns.get(stack)!;
            const resources = Number(/resources: (\d+)/.exec(runs[0].stdout)?.[1]);
            const invokes = Number(/invokes \(cloud round trips in a real preview\): (\d+)/.exec(runs[0].stdout)?.[1]);
            return { stack, ms: median(runs.map((r) => r.ms)), resources, invokes };
        });
        const paths: { stack: string; path: CriticalPath }[] = [];
        for (const stack of STACKS) {
            const measured = [];
            for (let i = 0; i < RUNS; i++) measured.push(await measureCriticalPath(stack, stackConfigFromFiles(ROOT, stack)));
            paths.push({ stack, path: [...measured].sort((a, b) => a.measured - b.measured)[Math.floor(RUNS / 2)] });
        }
        const lines = [
            `node ${process.version}, ${os.cpus().length} CPUs, median of ${RUNS} runs, floor and plans interleaved`,
            `floor: require the five Pulumi SDKs: ${floor.toFixed(0)} ms`,
            "| stack | wall ms (start to plan.json) | x floor | resources | invokes |",
            "|---|---:|---:|---:|---:|",
            ...rows.map((r) => `| ${r.stack} | ${r.ms.toFixed(0)} | ${(r.ms / floor).toFixed(2)} | ${r.resources} | ${r.invokes} |`),
            "",
            `deploy critical path under latency-injecting mocks, in model seconds (${modelTimes()})`,
            "| stack | deploy can start at | ideal | measured / ideal | ideal chain |",
            "|---|---:|---:|---:|---|",
            ...paths.map(
                ({ stack, path: p }) =>
                    `| ${stack} | ${p.measured.toFixed(1)} | ${p.ideal} | ${(p.measured / p.ideal).toFixed(3)} | ${p.idealChain.join(" ← ")} |`,
            ),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main().catch((err: Error) => {
    process.stderr.write(`bench failed: ${err.message}\n`);
    process.exit(1);
});
