// `npm run capacity -- --stack <name> --set hcloudToken=<token> [--set key=value ...]`: the capacity
// check of `pulumi preview` (components/capacity.ts) on demand, through Hetzner's API with the
// stack's token: exit 0 when the run may order what it wants (a warning when an existing server
// could not be replaced now), 1 with the one line naming the key when it may not or the API
// refused, 2 on bad arguments or config.
import * as path from "path";
import { checkCapacity } from "../components/capacity";
import { parseConfig } from "../config/parse";
import { parseArgs } from "./args";
import { readStackConfig } from "./stack-config";

const USAGE = "usage: npm run capacity -- --stack <production|staging|pr-N> --set hcloudToken=<token> [--set key=value ...]";
const ROOT = path.resolve(__dirname, "..", "..");

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2), ["--stack", "--set"]);
    if (typeof args === "string") {
        process.stderr.write(`${args}\n${USAGE}\n`);
        return 2;
    }
    const read = readStackConfig(ROOT, args.stack, args.overrides);
    if (!read.ok) {
        process.stderr.write(read.errors.map((e) => `${e}\n`).join(""));
        return 2;
    }
    // The stack file holds the token encrypted; only one given for this run is usable here.
    if (read.source.placeholders.includes("hcloudToken")) {
        process.stderr.write(`rails-stack:hcloudToken: needed to ask Hetzner; give it for this run: --set hcloudToken="$(pulumi config get hcloudToken --stack ${args.stack})"\n${USAGE}\n`);
        return 2;
    }
    const parsed = parseConfig(read.source, args.stack);
    if (!parsed.ok) {
        process.stderr.write(`invalid stack config for ${args.stack} (${read.source.file}):\n${parsed.errors.map((e) => `  ${e}\n`).join("")}`);
        return 2;
    }
    const { hetzner } = parsed.settings;
    const verdict = await checkCapacity(parsed.settings, read.source.values.hcloudToken);
    if (!verdict.ok) {
        process.stderr.write(`${verdict.message}\n`);
        return 1;
    }
    const order = verdict.order === "none" ? "the existing server is kept" : `this run would order: ${verdict.order}`;
    process.stdout.write(verdict.warning ? `warning: rails-stack:webServerType: ${verdict.warning}\n` : `capacity: ${hetzner.serverType} can be ordered in ${hetzner.location} now (${order})\n`);
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err: Error) => {
        process.stderr.write(`capacity check failed: ${err.message}\n`);
        process.exit(1);
    },
);
