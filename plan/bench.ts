// `npm run bench`: wall time of the offline plan of staging with 1, 5 and 20 web hosts against the
// floor of merely loading the five Pulumi SDKs. Prints figures; asserts nothing (not a test).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SDKS = ["@pulumi/pulumi", "@pulumi/hcloud", "@pulumi/cloudflare", "@pulumi/tailscale", "@pulumi/command"];

function timed(args: string[]): { ms: number; stdout: string } {
    const start = process.hrtime.bigint();
    const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (run.status !== 0) throw new Error(`${args.join(" ")} failed:\n${run.stderr}`);
    return { ms, stdout: run.stdout };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function main(): void {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-"));
    try {
        timed([path.join(ROOT, "launch.js")]); // build once, outside the measurements
        const floor = median(Array.from({ length: RUNS }, () => timed(["-e", SDKS.map((m) => `require(${JSON.stringify(m)});`).join("")]).ms));
        const rows = [1, 5, 20].map((hosts) => {
            const args = [path.join(ROOT, "launch.js"), "plan/cli", "--stack", "staging", "--out", path.join(tmp, String(hosts))];
            // More than one web host needs tlsMode tunnel (Kamal's automatic TLS is single-server).
            args.push("--set", `webHosts=${hosts}`, "--set", "tlsMode=tunnel");
            const runs = Array.from({ length: RUNS }, () => timed(args));
            const resources = Number(/resources: (\d+)/.exec(runs[0].stdout)?.[1]);
            const invokes = Number(/invokes \(cloud round trips in a real preview\): (\d+)/.exec(runs[0].stdout)?.[1]);
            return { hosts, ms: median(runs.map((r) => r.ms)), resources, invokes };
        });
        const lines = [
            `node ${process.version}, ${os.cpus().length} CPUs, median of ${RUNS} runs`,
            `floor: require the five Pulumi SDKs: ${floor.toFixed(0)} ms`,
            "| web hosts | wall ms (start to plan.json) | x floor | resources | invokes | ms per resource above floor |",
            "|---:|---:|---:|---:|---:|---:|",
            ...rows.map(
                (r) =>
                    `| ${r.hosts} | ${r.ms.toFixed(0)} | ${(r.ms / floor).toFixed(2)} | ${r.resources} | ${r.invokes} | ${((r.ms - floor) / r.resources).toFixed(1)} |`,
            ),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main();
