// `npm run plan -- --stack <name> [--out <dir>] [--set key=value ...]`: the offline plan.
import * as path from "path";
import { PlanResult, runPlan, stackConfigFromFiles } from "./run";
import { writePlan } from "./write";

const USAGE = "usage: npm run plan -- --stack <production|staging|pr-N> [--out <dir>] [--set key=value ...]";
const ROOT = path.resolve(__dirname, "..", "..");

interface Args {
    stack: string;
    out?: string;
    overrides: Record<string, string>;
}

function parseArgs(argv: string[]): Args | string {
    const overrides: Record<string, string> = {};
    let stack: string | undefined;
    let out: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const [flag, value] = [argv[i], argv[i + 1]];
        if (value === undefined) return `${flag}: missing value`;
        if (flag === "--stack") stack = value;
        else if (flag === "--out") out = value;
        else if (flag === "--set" && value.includes("=")) overrides[value.slice(0, value.indexOf("="))] = value.slice(value.indexOf("=") + 1);
        else return `unknown argument ${flag}`;
        i++;
    }
    return stack ? { stack, out, overrides } : "--stack is required";
}

function summary(result: Extract<PlanResult, { ok: true }>, dir: string): string {
    const counts = new Map<string, number>();
    for (const e of result.entries) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
    const lines = [
        `stack ${result.stack} (config: ${result.source.file}), offline plan under mocks`,
        `  RAILS_ENV: ${String(result.outputs.railsEnv)}`,
        `  hostnames: ${(result.outputs.hostnames as string[]).join(", ")}`,
        `  app version: ${String(result.outputs.deployedVersion)}`,
        `  resources: ${result.entries.length}`,
        ...[...counts].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `    ${String(n).padStart(3)}  ${type}`),
        `  invokes (cloud round trips in a real preview): ${result.invokes.length}`,
        `  placeholder secrets: ${result.source.placeholders.join(", ") || "none"}`,
        `  wrote ${path.relative(process.cwd(), dir) || "."}/: plan.json${Object.keys(result.artifacts).map((f) => `, ${f}`).join("")}`,
    ];
    return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    if (typeof args === "string") {
        process.stderr.write(`${args}\n${USAGE}\n`);
        return 2;
    }
    let source;
    try {
        source = stackConfigFromFiles(ROOT, args.stack, args.overrides);
    } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        return 2;
    }
    const result = await runPlan(args.stack, source);
    if (!result.ok) {
        process.stderr.write(`invalid stack config for ${args.stack} (${source.file}):\n${result.errors.map((e) => `  ${e}\n`).join("")}`);
        return 2;
    }
    const dir = path.resolve(args.out ?? path.join(ROOT, "out", args.stack));
    writePlan(result, dir);
    process.stdout.write(summary(result, dir));
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err: Error) => {
        process.stderr.write(`plan failed: ${err.message}\n`);
        process.exit(1);
    },
);
