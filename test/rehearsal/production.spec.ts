// Production's deploy rehearsed for real (./stack.ts): its committed config, Solid Queue in a container
// of its own, only the image that was reviewed (pinned by digest, appImageDigest), and a replacement
// server that takes over the volume and deploys on the data it finds.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { JOBS_COMMAND } from "../../renderers/kamal";
import { databaseFiles } from "../../renderers/litestream";
import { DeployRun, describeRehearsal, registryLogins, Rehearsal, repoDigest, REPOSITORY } from "./stack";

const escaped = (text: string) => text.replace(/[.]/g, "\\.");
const primaryRows = (r: Rehearsal) => spawnSync("sqlite3", [path.join(r.host.storage, "production.sqlite3"), "SELECT version FROM boots ORDER BY rowid"], { encoding: "utf8" }).stdout;

describeRehearsal("production", "production: the reviewed image, pinned by digest, on the server and on its replacement", (suite) => {
    let r: Rehearsal;
    let reviewed: string;
    const runs: DeployRun[] = [];
    before(async () => {
        r = await Rehearsal.start("production", suite, { apps: ["v1"] });
        reviewed = repoDigest(r, "v1");
    });
    after(async () => r && (await r.host.stop()));

    it("the pinned digest runs, web and jobs, with RAILS_ENV=production on the volume; the digest is printed, the host logged out", () => {
        const run = r.deploy("v1", { pin: reviewed });
        runs.push(run);
        assert.strictEqual(run.status, 0, run.output);
        for (const role of ["web", "job"]) {
            const [container] = r.running(`shop-${role}-production-`);
            assert.ok(container, `${role}: ${JSON.stringify(r.containers())}`);
            assert.strictEqual(container.image, `${REPOSITORY}:v1`);
            assert.ok((JSON.parse(r.inspect(container.id, "{{json .Config.Env}}")) as string[]).includes("RAILS_ENV=production"), role);
        }
        assert.deepStrictEqual(JSON.parse(r.inspect(r.running("shop-job-production-")[0].id, "{{json .Config.Cmd}}")), [JOBS_COMMAND]);
        for (const file of Object.values(databaseFiles("production"))) assert.ok(fs.existsSync(path.join(r.host.storage, file)), file);
        assert.ok(run.stdout.includes(`image: ${REPOSITORY}:v1 is ${reviewed}\n`), run.stdout);
        assert.deepStrictEqual(registryLogins(r), [], "no registry credential left on the host");
    });

    it("no secret value appears in any log", () => {
        r.assertNoSecretIn(r.logs(runs));
    });

    describe("a replacement server takes over the volume", () => {
        let next: Rehearsal;
        let rowsBefore: string;
        const nextRuns: DeployRun[] = [];
        before(async () => {
            // A clean shutdown (the provider's shutdownBeforeDeletion): the containers stop, then the machine.
            r.host.docker(["stop", ...r.running("").map((c) => c.id)]);
            await r.host.halt();
            rowsBefore = primaryRows(r);
            next = await Rehearsal.start("production", suite, { takeOver: r });
        });
        after(async () => next && (await next.host.stop()));

        it("the new server deploys the reviewed image on the data it finds: intact, nothing restored over it", () => {
            const run = next.deploy("v1", { pin: reviewed });
            nextRuns.push(run);
            assert.strictEqual(run.status, 0, run.output);
            assert.match(run.stdout, /^restored from replicas: nothing$/m);
            assert.strictEqual(primaryRows(next), `${rowsBefore}v1\n`);
            assert.ok(run.stdout.includes(`image: ${REPOSITORY}:v1 is ${reviewed}\n`), run.stdout);
        });

        it("a tag moved since review is refused before anything boots: the reviewed image keeps running; logged out after the failure too", () => {
            next.pushApp("v1", { build: "rebuilt" });
            assert.notStrictEqual(repoDigest(next, "v1"), reviewed);
            const moved = next.deploy("v1", { pin: reviewed });
            nextRuns.push(moved);
            assert.notStrictEqual(moved.status, 0);
            assert.match(moved.output, new RegExp(`${escaped(REPOSITORY)}:v1 on ${next.hostname} was pulled as ${escaped(REPOSITORY)}@sha256:[0-9a-f]{64}, not appImageDigest ${reviewed}: the tag moved since review`));
            const reviewedImage = next.host.docker(["image", "inspect", "--format", "{{.Id}}", `${REPOSITORY}@${reviewed}`]).trim();
            for (const role of ["web", "job"]) {
                const running = next.running(`shop-${role}-production-`);
                assert.strictEqual(running.length, 1, role);
                assert.strictEqual(next.inspect(running[0].id, "{{.Image}}"), reviewedImage, `${role}: the reviewed image keeps running`);
            }
            assert.deepStrictEqual(registryLogins(next), [], "logged out after a failed deploy too");
        });

        it("no secret value appears in any log of the new server", () => {
            next.assertNoSecretIn(next.logs(nextRuns));
        });
    });
});
