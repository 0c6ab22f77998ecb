// The deploy rehearsed for real, staging's versions: the real Kamal over real SSH into a real Docker
// daemon on a rehearsal host on this machine (./host.ts), with the Kamal set the offline plan renders
// for the stack. Only kamal-proxy is a stand-in image; what lies outside a real host is stood in for
// too (cloud-init's record of a finished boot, DNS and S3 for R2).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { databaseFiles } from "../../renderers/litestream";
import { DeployRun, describeRehearsal, filesUnder, registryLogins, Rehearsal, repoDigest, REPOSITORY } from "./stack";

describeRehearsal("staging", "staging: a first deploy, a second version, and one that fails its health check", (suite) => {
    let r: Rehearsal;
    const runs: DeployRun[] = [];
    before(async () => {
        r = await Rehearsal.start("staging", suite, { apps: ["v1", "v2"] });
        r.pushApp("v3", { healthy: false });
    });
    after(async () => r && (await r.host.stop()));

    it("points the plan's set at the host by its SSH port only", () => {
        const set = r.set();
        const back = (text: string) => text.replace(`Port ${r.host.sshPort}\n`, "Port 22\n").replace(`port: ${r.host.sshPort}\n`, "port: 22\n");
        for (const [file, text] of Object.entries(set.files)) assert.strictEqual(back(text), r.plan.artifacts[`kamal/${file}`], file);
        assert.deepStrictEqual(Object.keys(set.files).sort(), Object.keys(r.plan.artifacts).filter((f) => f.startsWith("kamal/")).map((f) => f.slice(6)).sort());
    });

    it("first deploy: the app runs with the stack's RAILS_ENV, on the volume, behind the proxy", () => {
        const run = r.deploy("v1");
        runs.push(run);
        assert.strictEqual(run.status, 0, run.output);
        const [web] = r.running("shop-web-staging-");
        assert.ok(web, JSON.stringify(r.containers()));
        assert.strictEqual(web.image, `${REPOSITORY}:v1`);
        const env = r.inspect(web.id, "{{json .Config.Env}}");
        assert.ok((JSON.parse(env) as string[]).includes("RAILS_ENV=staging"), env);
        assert.ok(r.running("kamal-proxy").length === 1);
        // The app created its databases where Litestream looks for them.
        for (const file of Object.values(databaseFiles("staging"))) assert.ok(fs.existsSync(path.join(r.host.storage, file)), file);
        const boots = spawnSync("sqlite3", [path.join(r.host.storage, "staging.sqlite3"), "SELECT version, rails_env FROM boots"], { encoding: "utf8" }).stdout;
        assert.strictEqual(boots, "v1|staging\n");
    });

    it("Litestream runs the rendered file on the same volume and replicates under the stack's prefix", async () => {
        const [litestream] = r.running("shop-litestream");
        assert.ok(litestream, JSON.stringify(r.containers()));
        const mounts = JSON.parse(r.inspect(litestream.id, "{{json .Mounts}}")) as { Source: string; Destination: string }[];
        assert.ok(mounts.some((m) => m.Destination === "/rails/storage" && m.Source === "/mnt/storage"));
        const config = mounts.find((m) => m.Destination === "/etc/litestream.yml")!;
        assert.strictEqual(fs.readFileSync(path.join(r.host.dir, "home", config.Source.replace(/^\/home\//, "")), "utf8"), r.plan.artifacts["storage/litestream.yml"]);
        assert.strictEqual(r.inspect(litestream.id, "{{.Config.User}}"), "1000:1000");
        const bucket = path.join(r.host.s3, r.settings.storage.backupsBucket);
        await r.waitFor("a snapshot of the primary database in S3", 30, () => filesUnder(bucket).some((f) => f.startsWith("staging/primary/generations/") && f.includes("/snapshots/")));
        for (const f of filesUnder(bucket)) assert.match(f, /^staging\/(primary|queue|cache|cable)\//, f);
        // And it restores: the replica holds the app's data (once its first snapshot is complete).
        let restore = { status: null as number | null, output: "" };
        await r.waitFor("a restore from the replica", 30, () => {
            restore = r.host.dockerStatus(["exec", litestream.id, "/usr/local/bin/litestream", "restore", "-o", "/rails/storage/restore-check.sqlite3", "/rails/storage/staging.sqlite3"]);
            return restore.status === 0;
        }).catch((err: Error) => assert.fail(`${err.message}: ${restore.output}; objects: ${filesUnder(bucket).join(", ")}`));
        const boots = spawnSync("sqlite3", [path.join(r.host.storage, "restore-check.sqlite3"), "SELECT version FROM boots"], { encoding: "utf8" }).stdout;
        assert.strictEqual(boots, "v1\n");
    });

    it("a second deploy: the new version runs, the database was copied first, nothing booted twice; it prints the digest it runs and logs the host out", () => {
        const [litestreamBefore] = r.running("shop-litestream");
        const startedBefore = r.inspect(litestreamBefore.id, "{{.State.StartedAt}}");
        const run = r.deploy("v2");
        runs.push(run);
        assert.strictEqual(run.status, 0, run.output);
        const web = r.running("shop-web-staging-");
        assert.deepStrictEqual(web.map((c) => c.image), [`${REPOSITORY}:v2`]);
        const litestream = r.containers().filter((c) => c.name === "shop-litestream");
        assert.deepStrictEqual(litestream.map((c) => [c.id, c.state]), [[litestreamBefore.id, "running"]]);
        assert.strictEqual(r.inspect(litestreamBefore.id, "{{.State.StartedAt}}"), startedBefore, "the accessory was not rebooted");
        assert.strictEqual(r.running("kamal-proxy").length, 1);
        const copies = fs.readdirSync(path.join(r.host.storage, "backups", "pre-deploy"));
        assert.deepStrictEqual(copies.map((f) => f.replace(/\d{8}T\d{6}Z/, "<time>")), ["staging-<time>-v2.sqlite3"]);
        const copied = spawnSync("sqlite3", [path.join(r.host.storage, "backups", "pre-deploy", copies[0]), "SELECT version FROM boots"], { encoding: "utf8" }).stdout;
        assert.strictEqual(copied, "v1\n", "the copy is the database as v1 left it");
        assert.doesNotMatch(run.output, /error/i);
        // What production pins once reviewed (appImageDigest) is what Docker recorded for the pull.
        assert.ok(run.stdout.includes(`image: ${REPOSITORY}:v2 is ${repoDigest(r, "v2")}\n`), run.stdout);
        // Kamal logged the host in to pull; the step logged it out (Kamal leaves the credential).
        assert.deepStrictEqual(registryLogins(r), [], "no registry credential left on the host");
    });

    it("an image whose health check fails: Kamal's exit code fails the step, the previous version keeps running, the host is logged out", () => {
        const run = r.deploy("v3");
        runs.push(run);
        assert.notStrictEqual(run.status, 0);
        assert.match(run.output, /deploy: error: kamal setup failed with exit code \d+/);
        assert.match(run.output, /target failed to become healthy/);
        assert.deepStrictEqual(r.running("shop-web-staging-").map((c) => c.image), [`${REPOSITORY}:v2`]);
        assert.deepStrictEqual(registryLogins(r), [], "logged out after a failed deploy too");
    });

    it("no secret value appears in any log", () => {
        r.assertNoSecretIn(r.logs(runs));
    });
});
