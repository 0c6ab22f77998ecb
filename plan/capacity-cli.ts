// `npm run capacity -- --stack <name> --set hcloudToken=<token> [--set key=value ...]` (or the token
// in HCLOUD_TOKEN): the capacity check of `pulumi preview` (components/capacity.ts) on demand,
// through Hetzner's API with the stack's token: exit 0 when the run may order what it wants (a warning when an existing server
// could not be replaced now), 1 with the one line naming the key when it may not or the API
// refused, 2 on bad arguments or config.
import * as path from "path";
import { parseConfig } from "../config/parse";
import { parseArgs } from "./args";
import { askCapacity, givenToken, TOKEN_SOURCES } from "./capacity-report";
import { invalidConfigReport, readStackConfig } from "./stack-config";

const USAGE = "usage: [HCLOUD_TOKEN=<token>] npm run capacity -- --stack <production|staging|pr-N> [--set hcloudToken=<token>] [--set key=value ...]";
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
    const token = givenToken(read.source);
    if (token === undefined) {
        process.stderr.write(`rails-stack:hcloudToken: needed to ask Hetzner; give it for this run: ${TOKEN_SOURCES(args.stack)}\n${USAGE}\n`);
        return 2;
    }
    const parsed = parseConfig(read.source, args.stack);
    if (!parsed.ok) {
        process.stderr.write(`${invalidConfigReport(args.stack, read.source.file, parsed.errors)}\n`);
        return 2;
    }
    const outcome = await askCapacity(parsed.settings, token);
    (outcome.ok ? process.stdout : process.stderr).write(`${outcome.line}\n`);
    return outcome.ok ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (err: Error) => {
        process.stderr.write(`capacity check failed: ${err.message}\n`);
        process.exit(1);
    },
);
