// Every rendered artifact, plan.json and cost.json of the committed stacks, compared byte for byte with
// test/golden/<stack>/. Review changes there like code; refresh with UPDATE_GOLDEN=1 npm test.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { costJson, planCost } from "../plan/cost";
import { stableJson } from "../plan/run";
import { tablePrices } from "../pricing/cost";
import { planFor, ROOT } from "./support";

const GOLDEN = path.join(ROOT, "test", "golden");
const STACKS = ["staging", "production", "pr-7"];

function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
        .sort();
}

async function rendered(stack: string): Promise<Record<string, string>> {
    const plan = await planFor(stack);
    return { ...plan.artifacts, "plan.json": stableJson(plan.entries), "cost.json": costJson(planCost(plan, tablePrices())) };
}

describe("golden files", () => {
    for (const stack of STACKS) {
        it(`${stack}: artifacts and plan.json match test/golden/${stack}/`, async () => {
            const files = await rendered(stack);
            const dir = path.join(GOLDEN, stack);
            if (process.env.UPDATE_GOLDEN === "1") {
                fs.rmSync(dir, { recursive: true, force: true });
                for (const [file, content] of Object.entries(files)) {
                    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
                    fs.writeFileSync(path.join(dir, file), content);
                }
            }
            assert.deepStrictEqual(filesUnder(dir), Object.keys(files).sort(), "golden file list (UPDATE_GOLDEN=1 refreshes)");
            for (const [file, content] of Object.entries(files)) {
                assert.strictEqual(content, fs.readFileSync(path.join(dir, file), "utf8"), `${stack}/${file} differs (UPDATE_GOLDEN=1 refreshes)`);
            }
        });
    }

    it("renders the same bytes twice", async () => {
        for (const stack of STACKS) assert.deepStrictEqual(await rendered(stack), await rendered(stack));
    });
});
