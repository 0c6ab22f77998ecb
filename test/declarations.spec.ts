import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { renderPulumiYaml, withConfigTable } from "../plan/docs";
import { ROOT } from "./support";

describe("config declarations", () => {
    it("Pulumi.yaml declares exactly the keys of config/keys.ts (run `npm run docs` after editing keys)", () => {
        assert.strictEqual(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"), renderPulumiYaml());
    });

    it("the README config table is current (run `npm run docs`)", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        assert.strictEqual(readme, withConfigTable(readme));
    });
});
