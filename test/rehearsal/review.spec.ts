// A review stack's first deploy rehearsed for real (./stack.ts): staging's RAILS_ENV, its own prefix in
// the review pool's bucket.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { buildApp } from "./images";
import { describeRehearsal, filesUnder, Rehearsal, REPOSITORY } from "./stack";

describeRehearsal("review", "pr-7: a review stack's first deploy", (suite) => {
    let r: Rehearsal;
    before(async () => {
        r = await Rehearsal.start("pr-7", suite);
        buildApp(r.host, REPOSITORY, "v1", true);
    });
    after(async () => r && (await r.host.stop()));

    it("runs with the staging RAILS_ENV it inherits, and replicates under its own prefix", async () => {
        const run = r.deploy("v1");
        assert.strictEqual(run.status, 0, run.output);
        const [web] = r.running("shop-web-pr-7-");
        assert.ok((JSON.parse(r.inspect(web.id, "{{json .Config.Env}}")) as string[]).includes("RAILS_ENV=staging"));
        assert.ok(fs.existsSync(path.join(r.host.storage, "staging.sqlite3")));
        const bucket = path.join(r.host.s3, r.settings.storage.backupsBucket);
        // The review pool (staging's), under the review stack's own prefix.
        assert.strictEqual(r.settings.storage.backupsBucket, "shop-review-backups");
        await r.waitFor("a snapshot under pr-7/primary", 30, () => filesUnder(bucket).some((f) => f.startsWith("pr-7/primary/generations/")));
        r.assertNoSecretIn(r.logs([run]));
    });
});
