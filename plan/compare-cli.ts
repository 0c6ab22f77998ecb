// `npm run plan-compare -- <base dir> <head dir>`: Markdown of what the change does to each
// stack's host and monthly bill, from two offline plans (pull-request.yml writes it to the job
// summary). A directory is one plan (it holds plan.json) or one plan per stack under <dir>/<stack>/.
import * as fs from "fs";
import * as path from "path";
import { KEYS } from "../config/keys";
import { tablePrices } from "../pricing/cost";
import { PRICE_TABLE } from "../pricing/table";
import { compareStack, readPlanDir } from "./compare";

const USAGE = "usage: npm run plan-compare -- <base plan dir> <head plan dir>";

/** The stacks of a plan directory: itself, or each subdirectory holding plan.json. */
function stacksIn(dir: string): Map<string, string> {
    if (fs.existsSync(path.join(dir, "plan.json"))) return new Map([[path.basename(dir), dir]]);
    if (!fs.existsSync(dir)) return new Map();
    return new Map(
        fs
            .readdirSync(dir, { withFileTypes: true })
            .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, "plan.json")))
            .map((d) => [d.name, path.join(dir, d.name)]),
    );
}

function main(): number {
    const [baseDir, headDir, ...rest] = process.argv.slice(2);
    if (!baseDir || !headDir || rest.length > 0) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
    }
    const heads = stacksIn(headDir);
    if (heads.size === 0) {
        process.stderr.write(`${headDir}: no plan.json, here or in a stack directory below it\n${USAGE}\n`);
        return 2;
    }
    const single = fs.existsSync(path.join(headDir, "plan.json"));
    const bases = single ? new Map([[heads.keys().next().value as string, baseDir]]) : new Map([...heads.keys()].map((s) => [s, path.join(baseDir, s)]));
    const verified = [...new Set(PRICE_TABLE.map((e) => e.verified))].sort().join(", ");
    const sections = [...heads].sort(([a], [b]) => a.localeCompare(b)).map(([stack, dir]) =>
        compareStack(stack, readPlanDir(bases.get(stack) ?? "", stack), readPlanDir(dir, stack)!, tablePrices(), KEYS.r2StoredGb.default),
    );
    process.stdout.write(
        [
            "## What this change does to the hosts and the monthly bill",
            "",
            `From the offline plans of base and head. Prices: the head's pricing/table.ts (verified ${verified}), EUR excl. VAT, new-order prices for servers; ` +
                "R2 requests from the rendered litestream.yml, as an upper bound (every database changing all month) and idle; R2 storage as assumed by r2StoredGb.",
            "",
            ...sections,
        ].join("\n"),
    );
    return 0;
}

process.exit(main());
