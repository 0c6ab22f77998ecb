// The deploy rehearsed for real, staging: the real Kamal over real SSH into a real Docker daemon on a
// rehearsal host on this machine (./host.ts), with the Kamal set the offline plan renders for the
// stack. Only kamal-proxy is a stand-in image; what lies outside a real host is stood in for too
// (cloud-init's record of a finished boot, DNS and S3 for R2). A first deploy, a second version, one
// that fails its health check; then the data survives: the restore drill on a healthy replica, an
// empty volume restored before anything boots, the drill naming each kind of damage. (A
// replacement server taking over the volume: ./production.spec.ts.)
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { databaseFiles } from "../../renderers/litestream";
import { DeployRun, describeRehearsal, filesUnder, registryLogins, Rehearsal, repoDigest, REPOSITORY } from "./stack";

describeRehearsal("staging", "staging: versions, a failed health check, an empty volume restored, the drill", (suite) => {
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

    it("the restore drill: every replica restores, with its age, restore time, integrity and largest table", async () => {
        // Right after the first boot, a database's first snapshot may not have landed yet.
        let drill = { status: null as number | null, stdout: "", stderr: "" };
        await r.waitFor("a drill that passes", 30, () => (drill = r.restoreDrill()).status === 0).catch((err: Error) => assert.fail(`${err.message}: ${drill.stdout}${drill.stderr}`));
        for (const db of ["primary", "queue", "cache", "cable"]) {
            assert.match(drill.stdout, new RegExp(`^\\| ${db} \\| \\d+(m \\d+)?s \\| \\d+\\.\\ds \\| ok \\| \\d+\\.\\d [KM]B \\| boots \\d+ \\|$`, "m"), drill.stdout);
        }
        assert.match(drill.stdout, /No problem: every replica restores\./);
    });

    it("a host that comes up with an empty volume: the deploy restores every replica before anything boots; no row is lost", async () => {
        const primary = path.join(r.host.storage, "staging.sqlite3");
        const sql = (query: string) => spawnSync("sqlite3", [primary, query], { encoding: "utf8" }).stdout;
        sql("INSERT INTO boots VALUES (datetime('now'), 'rehearsal-marker', 'staging')");
        // Replicated once a restore from the bucket has the row (sync-interval 1s).
        const [litestream] = r.running("shop-litestream");
        const check = path.join(r.host.storage, "replica-check.sqlite3");
        await r.waitFor("the marker row in the replica", 30, () => {
            fs.rmSync(check, { force: true });
            r.host.dockerStatus(["exec", litestream.id, "/usr/local/bin/litestream", "restore", "-o", "/rails/storage/replica-check.sqlite3", "/rails/storage/staging.sqlite3"]);
            return fs.existsSync(check) && spawnSync("sqlite3", [check, "SELECT count(*) FROM boots WHERE version = 'rehearsal-marker'"], { encoding: "utf8" }).stdout === "1\n";
        });
        const before = sql("SELECT version FROM boots ORDER BY rowid");
        // A new host: no containers, an empty volume, an empty home (Kamal's and the step's state gone).
        r.host.docker(["rm", "--force", ...r.containers().map((c) => c.id)]);
        for (const dir of [r.host.storage, path.join(r.host.dir, "home", "deploy")]) {
            for (const entry of fs.readdirSync(dir)) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
        }
        const run = r.deploy("v2");
        runs.push(run);
        assert.strictEqual(run.status, 0, run.output);
        assert.match(run.stdout, /^restored from replicas: staging\.sqlite3@\S+ staging_queue\.sqlite3@\S+ staging_cache\.sqlite3@\S+ staging_cable\.sqlite3@\S+$/m);
        assert.match(run.output, /deploy: restored staging\.sqlite3 from its replica \(last written 20\d\d-\d\d-\d\dT[\d:]+Z\)/);
        // Every row is back, and the new version booted on top of them, not on an empty database.
        assert.strictEqual(sql("SELECT version FROM boots ORDER BY rowid"), `${before}v2\n`);
        assert.deepStrictEqual(r.running("shop-web-staging-").map((c) => c.image), [`${REPOSITORY}:v2`]);
    });

    it("no secret value appears in any log", () => {
        r.assertNoSecretIn(r.logs(runs));
    });

    it("the drill fails with one matching line for a deleted object, a damaged WAL segment, a refused key and a missing bucket", async () => {
        // The restored databases' replicas complete (the drill passes), then nothing writes to them.
        await r.waitFor("a drill that passes", 30, () => r.restoreDrill().status === 0);
        r.host.docker(["stop", "shop-litestream"]);
        const bucket = path.join(r.host.s3, r.settings.storage.backupsBucket);
        // s3rver keeps each object as <key>._S3rver_object (with .md5 and _metadata.json beside it).
        const objects = filesUnder(bucket).filter((f) => f.startsWith("staging/primary/generations/") && f.endsWith("._S3rver_object")).sort();
        const written = (f: string) => fs.statSync(path.join(bucket, f)).mtimeMs;
        // The generation a restore uses: the one written last.
        const newest = objects.reduce((a, b) => (written(a) >= written(b) ? a : b)).split("/")[3];
        const ofNewest = objects.filter((f) => f.split("/")[3] === newest);
        const s3rverFiles = (object: string) => [object, `${object}.md5`, object.replace(/_object$/, "_metadata.json")].map((f) => path.join(bucket, f));
        const expectLine = (what: string, line: RegExp, run: { status: number | null; stdout: string; stderr: string }) => {
            assert.strictEqual(run.status, 1, `${what}: ${run.stdout}${run.stderr}`);
            assert.match(run.stderr, line, what);
        };

        const snapshot = ofNewest.find((f) => f.includes("/snapshots/"))!;
        const aside = path.join(r.dir, "aside");
        fs.mkdirSync(aside);
        for (const file of s3rverFiles(snapshot)) fs.renameSync(file, path.join(aside, path.basename(file)));
        expectLine("deleted object", new RegExp(`^restore-drill: primary: generation ${newest} of its replica has no snapshot, so nothing restores from it$`, "m"), r.restoreDrill());
        for (const file of s3rverFiles(snapshot)) fs.renameSync(path.join(aside, path.basename(file)), file);

        const wal = ofNewest.filter((f) => f.includes("/wal/")).pop()!;
        const walFile = path.join(bucket, wal);
        const intact = fs.readFileSync(walFile);
        fs.writeFileSync(walFile, intact.subarray(0, 12));
        expectLine("truncated WAL segment", new RegExp(`^restore-drill: primary: ${wal.replace("._S3rver_object", "").replace(/\./g, "\\.")} is damaged`, "m"), r.restoreDrill());
        fs.writeFileSync(walFile, intact);

        expectLine("wrong key", /^restore-drill: credentials refused by s3:\/\/shop-staging-backups at https:\/\/\S+ \((InvalidAccessKeyId|HTTP 403)\)/m, r.restoreDrill({ accessKeyId: "AKIAWRONGKEY", secretAccessKey: "wrong" }));

        fs.renameSync(bucket, `${bucket}.gone`);
        expectLine("missing bucket", /^restore-drill: bucket missing: s3:\/\/shop-staging-backups at https:\/\/\S+ does not exist \(backupsBucket\)$/m, r.restoreDrill());
        fs.renameSync(`${bucket}.gone`, bucket);
        assert.strictEqual(r.restoreDrill().status, 0, "the replica, put back, restores again");
    });
});
