// The database survives, rehearsed for real (./stack.ts): a host that comes up with an empty volume
// restores every replica before anything boots, and the restore drill passes on a healthy replica and
// names each kind of damage. (A replacement server taking over the volume: ./production.spec.ts.)
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DeployRun, describeRehearsal, filesUnder, Rehearsal, REPOSITORY } from "./stack";

describeRehearsal("data", "staging's data: restored onto an empty volume, drilled", (suite) => {
    let r: Rehearsal;
    const runs: DeployRun[] = [];
    before(async () => {
        r = await Rehearsal.start("staging", suite, { apps: ["v1", "v2"] });
        // The data: what the first deploy's boot wrote, replicated by the Litestream it started.
        const first = r.deploy("v1");
        runs.push(first);
        assert.strictEqual(first.status, 0, first.output);
        const bucket = path.join(r.host.s3, r.settings.storage.backupsBucket);
        await r.waitFor("a snapshot of the primary database in S3", 30, () => filesUnder(bucket).some((f) => f.startsWith("staging/primary/generations/") && f.includes("/snapshots/")));
    });
    after(async () => r && (await r.host.stop()));

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
