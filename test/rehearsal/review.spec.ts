// A review stack rehearsed for real (./stack.ts): its first deploy (staging's RAILS_ENV, its own prefix
// in the review pool's bucket), then what stops a deploy before Kamal changes anything: a lock left
// by an interrupted run, a host that never answers, a device that only claims the host's name.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DeployRun, describeRehearsal, filesUnder, Rehearsal, REPOSITORY, tailnetStatus } from "./stack";

describeRehearsal("review", "pr-7: a review stack's first deploy, and deploys that stop before Kamal changes anything", (suite) => {
    let r: Rehearsal;
    const runs: DeployRun[] = [];
    before(async () => (r = await Rehearsal.start("pr-7", suite, { apps: ["v1"] })));
    after(async () => r && (await r.host.stop()));

    it("runs with the staging RAILS_ENV it inherits, and replicates under its own prefix", async () => {
        const run = r.deploy("v1");
        runs.push(run);
        assert.strictEqual(run.status, 0, run.output);
        const [web] = r.running("shop-web-pr-7-");
        assert.ok((JSON.parse(r.inspect(web.id, "{{json .Config.Env}}")) as string[]).includes("RAILS_ENV=staging"));
        assert.ok(fs.existsSync(path.join(r.host.storage, "staging.sqlite3")));
        const bucket = path.join(r.host.s3, r.settings.storage.backupsBucket);
        // The review pool (staging's), under the review stack's own prefix.
        assert.strictEqual(r.settings.storage.backupsBucket, "shop-review-backups");
        await r.waitFor("a snapshot under pr-7/primary", 30, () => filesUnder(bucket).some((f) => f.startsWith("pr-7/primary/generations/")));
    });

    it("a deploy lock left by an interrupted run stops the step, which prints the recovery", () => {
        const acquired = r.kamalByHand(["lock", "acquire", "-m", "rehearsal: an interrupted deploy"]);
        assert.strictEqual(acquired.status, 0, acquired.output);
        const locked = r.deploy("v1");
        runs.push(locked);
        assert.notStrictEqual(locked.status, 0);
        assert.match(locked.output, /Deploy lock found/);
        const recovery = /^deploy: {3}(\(cd .* lock release .*\))$/m.exec(locked.output);
        assert.ok(recovery, locked.output);
        const released = spawnSync("bash", ["-c", recovery[1]], {
            env: { PATH: `${path.join(r.dir, "bin")}:${process.env.PATH}`, TAILSCALE_STANDIN_STATUS: r.tailnet, HOME: path.join(r.dir, "home"), SSH_AUTH_SOCK: r.host.agentSocket },
            encoding: "utf8",
        });
        assert.strictEqual(released.status, 0, `${released.stdout}${released.stderr}`);
        assert.deepStrictEqual(r.running("shop-web-pr-7-").map((c) => c.image), [`${REPOSITORY}:v1`], "nothing changed meanwhile");
        assert.match(r.kamalByHand(["lock", "status"]).output, /There is no deploy lock/);
    });

    it("a host that never answers: the step fails within its bound and names the host", () => {
        const run = r.deploy("v1", { target: { host: r.hostname, sshPort: r.host.sshPort + 1 }, env: { RAILS_STACK_WAIT_SECONDS: "3", RAILS_STACK_WAIT_INTERVAL: "0.5" } });
        runs.push(run);
        assert.strictEqual(run.status, 1);
        assert.match(run.output, new RegExp(`deploy: error: host ${r.hostname} did not answer over SSH within 3s`));
        assert.ok(run.seconds < 30, `${run.seconds}s`);
    });

    it("a device that claims the host's name without the stack's tags gets nothing: no SSH session reaches it", () => {
        const real = fs.readFileSync(r.tailnet, "utf8");
        fs.writeFileSync(r.tailnet, tailnetStatus([r.peer({ ID: "nIMPOSTOR", Tags: [] }), r.peer({ Online: false })]));
        const sshdLog = fs.readFileSync(path.join(r.host.dir, "sshd.log"), "utf8");
        try {
            const run = r.deploy("v1", { env: { RAILS_STACK_WAIT_SECONDS: "1", RAILS_STACK_WAIT_INTERVAL: "0.5" } });
            runs.push(run);
            assert.strictEqual(run.status, 1);
            const tags = r.settings.tailscale.tags.join(",");
            assert.match(run.output, new RegExp(`deploy: error: no online tailnet device is ${r.hostname} with tags ${tags}; 1 with them is offline; ignored, for lacking them: nIMPOSTOR \\(tags: none\\)`));
            assert.strictEqual(fs.readFileSync(path.join(r.host.dir, "sshd.log"), "utf8"), sshdLog, "no connection reached the host's sshd");
        } finally {
            fs.writeFileSync(r.tailnet, real);
        }
    });

    it("no secret value appears in any log", () => {
        r.assertNoSecretIn(r.logs(runs));
    });
});
