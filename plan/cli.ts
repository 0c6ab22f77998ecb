// `npm run plan -- --stack <name> [--out <dir>] [--set key=value ...]`: the offline plan.
import * as path from "path";
import { stackKind } from "../config/parse";
import { costSummary, StackCost } from "../pricing/cost";
import { PlanPrices, pricesFor } from "../pricing/live";
import { costJson, planCost } from "./cost";
import { PlanResult, readStackConfig, runPlan } from "./run";
import { writePlan } from "./write";

const USAGE = "usage: npm run plan -- --stack <production|staging|pr-N> [--out <dir>] [--set key=value ...]";
const ROOT = path.resolve(__dirname, "..", "..");

interface Args {
    stack: string;
    out?: string;
    overrides: Record<string, string>;
}

const FLAGS = ["--stack", "--out", "--set"];

/** The arguments, or the one line that says what is wrong with them (the stack name's rule included). */
function parseArgs(argv: readonly string[]): Args | string {
    const overrides: Record<string, string> = {};
    let stack: string | undefined;
    let out: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (!arg.startsWith("--")) return `unexpected argument ${JSON.stringify(arg)}; flags are ${FLAGS.join(", ")}`;
        // --flag=value is read as --flag value.
        const eq = arg.indexOf("=");
        const flag = eq < 0 ? arg : arg.slice(0, eq);
        if (!FLAGS.includes(flag)) return `unknown flag ${flag}`;
        let value = eq < 0 ? argv[i + 1] : arg.slice(eq + 1);
        if (eq < 0) {
            if (value === undefined || value.startsWith("--")) return `${flag}: missing value`;
            i++;
        }
        if (value === "") return `${flag}: missing value`;
        if (flag === "--stack") stack = value;
        else if (flag === "--out") out = value;
        else {
            const split = value.indexOf("=");
            if (split < 0) return `--set ${value}: missing '=value' (write --set ${value}=value)`;
            if (split === 0) return `--set ${value}: missing key (write --set key${value})`;
            overrides[value.slice(0, split)] = value.slice(split + 1);
        }
    }
    if (!stack) return "--stack is required";
    // The stack name's rule comes before any file is looked for: a missing file is no news to
    // someone who mistyped the name.
    const kind = stackKind(stack);
    return "error" in kind ? kind.error : { stack, out, overrides };
}

function summary(result: Extract<PlanResult, { ok: true }>, prices: PlanPrices, cost: StackCost, dir: string): string {
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
        ...prices.report,
        ...costSummary(cost),
        `  wrote ${path.relative(process.cwd(), dir) || "."}/: plan.json, cost.json${Object.keys(result.artifacts).map((f) => `, ${f}`).join("")}`,
    ];
    return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    if (typeof args === "string") {
        process.stderr.write(`${args}\n${USAGE}\n`);
        return 2;
    }
    const read = readStackConfig(ROOT, args.stack, args.overrides);
    if (!read.ok) {
        process.stderr.write(read.errors.map((e) => `${e}\n`).join(""));
        return 2;
    }
    const source = read.source;
    const result = await runPlan(args.stack, source);
    if (!result.ok) {
        process.stderr.write(`invalid stack config for ${args.stack} (${source.file}):\n${result.errors.map((e) => `  ${e}\n`).join("")}`);
        return 2;
    }
    const dir = path.resolve(args.out ?? path.join(ROOT, "out", args.stack));
    // A token given for this run (--set) is real; one from the stack file is a placeholder.
    const token = source.placeholders.includes("hcloudToken") ? undefined : source.values.hcloudToken;
    const prices = await pricesFor(token);
    const cost = planCost(result, prices.prices);
    writePlan(result, dir, { "cost.json": costJson(cost) });
    process.stdout.write(summary(result, prices, cost, dir));
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err: Error) => {
        process.stderr.write(`plan failed: ${err.message}\n`);
        process.exit(1);
    },
);
