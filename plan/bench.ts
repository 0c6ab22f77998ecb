// `npm run bench`: wall time of the offline plan of each stack against the floor of merely loading
// the five Pulumi SDKs, both run by node directly and through `npm run` (as users run the plan,
// and as issue 19 measured it: `npm run bench-floor` is the floor); what the program adds to the
// SDKs as launch.js loads them (serializer tools deferred, lib/sdk-deferral.ts); and
// the deploy's critical path under latency-injecting mocks (plan/critical-path.ts), and the deploy
// step's overhead over Kamal's own time as the last rehearsal recorded it (plan/deploy-overhead.ts).
// Prints figures; asserts nothing (not a test).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CriticalPath, INVOKE_SECONDS, measureCriticalPath, MODEL_SECONDS } from "./critical-path";
import { overheadLines, readDeployRecords, RECORD_DIR } from "./deploy-overhead";
import { stackConfigFromFiles } from "./stack-config";

const ROOT = path.resolve(__dirname, "..", "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** The floor's code, from package.json's bench-floor script (`node -e "<code>"`), one source for both columns. */
const FLOOR_CODE = (() => {
    const script = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["bench-floor"];
    const code = /^node -e "(.*)"$/.exec(script)?.[1];
    if (!code) throw new Error(`package.json bench-floor is not node -e "<code>": ${script}`);
    return code;
})();
const STACKS = ["staging", "production", "pr-7"];

/** npm as `npm run bench` was started with (npm sets npm_execpath), else the one on PATH. */
const npm = (args: string[]): string[] => (process.env.npm_execpath ? [process.execPath, process.env.npm_execpath, ...args] : ["npm", ...args]);

function timed(args: string[], command = process.execPath): { ms: number; stdout: string } {
    const start = process.hrtime.bigint();
    const run = spawnSync(command, args, { cwd: ROOT, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (run.status !== 0) throw new Error(`${args.join(" ")} failed:\n${run.stderr}`);
    return { ms, stdout: run.stdout };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** "Server 40, Volume 5, ...": the latency model, as the table's caption. */
const modelTimes = (): string =>
    [...Object.entries(MODEL_SECONDS).filter(([, seconds]) => seconds > 0).map(([type, seconds]) => `${type.slice(type.lastIndexOf(":") + 1)} ${seconds}`), `invoke ${INVOKE_SECONDS}`].join(", ");

/** The load averages over 1, 5 and 15 minutes, as uptime prints them. */
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");

async function main(): Promise<void> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-"));
    const loadBefore = load();
    try {
        timed([path.join(ROOT, "launch.js")]); // build once, outside the measurements
        // Floor and plans interleaved, run by run, so a machine that gets busier or quieter during
        // the bench shifts both alike; medians per column.
        const floorArgs = ["-e", FLOOR_CODE];
        const deferredFloorArgs = ["-e", `require("./bin/lib/sdk-deferral.js").deferSerializerTools(); ${FLOOR_CODE}`];
        // A pinned version: the bench measures the program, not a read of the app's checkout.
        const planArgs = (stack: string) => ["--stack", stack, "--out", path.join(tmp, stack), "--set", "appVersion=bench"];
        const viaNpm = (args: string[]) => {
            const [command, ...rest] = npm(args);
            return timed(rest, command);
        };
        const floorRuns = { node: [] as number[], npm: [] as number[], deferred: [] as number[] };
        const planRuns = new Map(STACKS.map((stack) => [stack, { node: [] as { ms: number; stdout: string }[], npm: [] as number[] }]));
        for (let i = 0; i < RUNS; i++) {
            floorRuns.node.push(timed(floorArgs).ms);
            floorRuns.npm.push(viaNpm(["run", "--silent", "bench-floor"]).ms);
            floorRuns.deferred.push(timed(deferredFloorArgs).ms);
            for (const stack of STACKS) {
                planRuns.get(stack)!.node.push(timed([path.join(ROOT, "launch.js"), "plan/cli", ...planArgs(stack)]));
                planRuns.get(stack)!.npm.push(viaNpm(["run", "--silent", "plan", "--", ...planArgs(stack)]).ms);
            }
        }
        const loadAfter = load();
        const floor = { node: median(floorRuns.node), npm: median(floorRuns.npm), deferred: median(floorRuns.deferred) };
        const rows = STACKS.map((stack) => {
            const runs = planRuns.get(stack)!;
            const resources = Number(/resources: (\d+)/.exec(runs.node[0].stdout)?.[1]);
            const invokes = Number(/invokes \(cloud round trips in a real preview\): (\d+)/.exec(runs.node[0].stdout)?.[1]);
            return { stack, ms: median(runs.node.map((r) => r.ms)), npmMs: median(runs.npm), resources, invokes };
        });
        const paths: { stack: string; path: CriticalPath }[] = [];
        for (const stack of STACKS) {
            const measured = [];
            for (let i = 0; i < RUNS; i++) measured.push(await measureCriticalPath(stack, stackConfigFromFiles(ROOT, stack)));
            paths.push({ stack, path: [...measured].sort((a, b) => a.measured - b.measured)[Math.floor(RUNS / 2)] });
        }
        const deployRecord = readDeployRecords(ROOT);
        const lines = [
            `node ${process.version}, ${os.cpus().length} CPUs, median of ${RUNS} runs, floor and plans interleaved; load average (1, 5, 15 min) ${loadBefore} before, ${loadAfter} after`,
            `floor: require the five Pulumi SDKs: ${floor.node.toFixed(0)} ms with node, ${floor.npm.toFixed(0)} ms through npm run (bench-floor)`,
            `the five SDKs as launch.js loads them (serializer tools deferred): ${floor.deferred.toFixed(0)} ms with node`,
            "| stack | node: wall ms (start to plan.json) | x floor | npm run plan: wall ms | x floor | program beyond its SDK load: ms | resources | invokes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            ...rows.map(
                (r) =>
                    `| ${r.stack} | ${r.ms.toFixed(0)} | ${(r.ms / floor.node).toFixed(2)} | ${r.npmMs.toFixed(0)} | ${(r.npmMs / floor.npm).toFixed(2)} | ${(r.ms - floor.deferred).toFixed(0)} | ${r.resources} | ${r.invokes} |`,
            ),
            "",
            `deploy critical path under latency-injecting mocks, in model seconds (${modelTimes()})`,
            "| stack | deploy can start at | ideal | measured / ideal | ideal chain |",
            "|---|---:|---:|---:|---|",
            ...paths.map(
                ({ stack, path: p }) =>
                    `| ${stack} | ${p.measured.toFixed(1)} | ${p.ideal} | ${(p.measured / p.ideal).toFixed(3)} | ${p.idealChain.join(" ← ")} |`,
            ),
            "",
            ...(deployRecord
                ? overheadLines(deployRecord)
                : [`deploy step overhead: no record in ${RECORD_DIR}; the deploy rehearsal writes it (RAILS_STACK_KAMAL=<kamal> npm run rehearsal, as root)`]),
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
