// `npm run plan -- --stack <name> [--out <dir>] [--set key=value ...]`: the offline plan.
// Arguments and the stack file are checked before the Pulumi SDK is loaded (plan/run.ts), so a
// mistake costs no SDK load; what only some runs need (live prices, production's warning) is
// loaded by those runs only.
import * as path from "path";
import { costSummary, PlanPrices, StackCost, tablePlanPrices } from "../pricing/cost";
import { parseArgs } from "./args";
import { costJson, planCost } from "./cost";
import type { PlanResult } from "./run";
import { invalidConfigReport, readStackConfig } from "./stack-config";
import { writePlan } from "./write";

const USAGE = "usage: npm run plan -- --stack <production|staging|pr-N> [--out <dir>] [--set key=value ...]";
const ROOT = path.resolve(__dirname, "..", "..");

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
        `  capacity: pulumi preview and up stop before ordering the server unless Hetzner reports ${result.settings.hetzner.serverType} orderable in ${result.settings.hetzner.location}` +
            ` (components/capacity.ts; offline the mocks report it orderable; npm run capacity -- --stack ${result.stack} asks Hetzner now)`,
        `  placeholder secrets: ${result.source.placeholders.join(", ") || "none"}`,
        ...prices.report,
        ...costSummary(cost),
        `  wrote ${path.relative(process.cwd(), dir) || "."}/: plan.json, cost.json${Object.keys(result.artifacts).map((f) => `, ${f}`).join("")}`,
    ];
    return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
    // The runtime keeps a stack trace on every promise for its leak debugger (runtime/debuggable.js,
    // debuggablePromise: `new Error().stack`), about a tenth of the plan's time; the plan prints none.
    Error.stackTraceLimit = 0;
    const args = parseArgs(process.argv.slice(2), ["--stack", "--out", "--set"]);
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
    const { runPlan } = await import("./run");
    const result = await runPlan(args.stack, source);
    if (!result.ok) {
        process.stderr.write(`${invalidConfigReport(args.stack, source.file, result.errors)}\n`);
        return 2;
    }
    const dir = path.resolve(args.out ?? path.join(ROOT, "out", args.stack));
    // A token given for this run (--set) is real; one from the stack file is a placeholder.
    const token = source.placeholders.includes("hcloudToken") ? undefined : source.values.hcloudToken;
    const prices = token === undefined ? tablePlanPrices() : await (await import("../pricing/live")).pricesFor(token);
    const cost = planCost(result, prices.prices);
    writePlan(result, dir, { "cost.json": costJson(cost) });
    process.stdout.write(summary(result, prices, cost, dir));
    if (args.stack === "production") {
        const staging = readStackConfig(ROOT, "staging", {});
        const shared = staging.ok ? (await import("../config/credential-layout")).sharedCloudflareWarning(source, staging.source) : undefined;
        if (shared) process.stderr.write(`warning: ${shared}\n`);
    }
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err: Error) => {
        process.stderr.write(`plan failed: ${err.message}\n`);
        process.exit(1);
    },
);
