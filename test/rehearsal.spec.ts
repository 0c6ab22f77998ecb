// The deploy rehearsed for real: the product's deploy script, unchanged, runs the real Kamal over
// real SSH into a real Docker daemon on a rehearsal host on this machine (test/rehearsal/), with the
// Kamal set the offline plan renders for the stack, pointed at that host. Only kamal-proxy is a
// stand-in image; what lies outside a real host is stood in for too (cloud-init's record of a
// finished boot, DNS and S3 for R2). Skips where the machine cannot run it, unless
// REQUIRE_VALIDATORS=1 (CI), which makes that a failure.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { deployEnvironment, DEPLOY_COMMAND, TUNNEL_TOKEN_ENV } from "../components/deploy";
import { parseConfig } from "../config/parse";
import type { Settings } from "../config/settings";
import { stackConfigFromFiles } from "../plan/run";
import { activeStorageSettings } from "../renderers/active-storage";
import { DeployTarget, KAMAL_FILES, kamalInput, KamalSet, renderKamalSet } from "../renderers/kamal";
import { databaseFiles } from "../renderers/litestream";
import { r2Endpoint } from "../components/storage";
import { rehearsalUnavailable, RehearsalHost, startRehearsalHost } from "./rehearsal/host";
import { buildApp, buildKamalProxy, buildLitestream } from "./rehearsal/images";
import { kamalExecutable, OkPlan, plainInputs, planFor, resourcesOfType, ROOT } from "./support";

/** What a user would set: the rehearsal's registry, and an image CI already pushed. */
const CONFIG = { registryServer: "127.0.0.1:5000", buildImage: "false", appVersion: "v1" };
const REPOSITORY = `${CONFIG.registryServer}/acme/shop`;

interface DeployRun {
    readonly status: number | null;
    readonly output: string;
    readonly seconds: number;
}

/** One stack's rehearsal: its plan, a host, and the deploy script pointed at that host. */
class Rehearsal {
    readonly dir: string;
    readonly setDir: string;
    private constructor(
        readonly stack: string,
        readonly plan: OkPlan,
        readonly settings: Settings,
        readonly host: RehearsalHost,
        readonly kamal: string,
        private readonly secrets: Record<string, string>,
    ) {
        this.dir = path.join(host.dir, "deployer");
        this.setDir = path.join(this.dir, "state", `shop-${stack}`);
        fs.mkdirSync(path.join(this.dir, "home"), { recursive: true });
        // The app's checkout: Kamal commands run by hand take their version from its git commit.
        const app = path.join(this.dir, "app");
        fs.cpSync(path.join(ROOT, "test", "fixtures", "apps", "healthy"), app, { recursive: true });
        const identity = { GIT_AUTHOR_NAME: "r", GIT_AUTHOR_EMAIL: "r@example.com", GIT_COMMITTER_NAME: "r", GIT_COMMITTER_EMAIL: "r@example.com" };
        for (const args of [["init", "-q"], ["add", "."], ["commit", "-qm", "app"]]) execFileSync("git", ["-C", app, ...args], { env: { ...process.env, ...identity } });
    }

    static async start(stack: string, kamal: string): Promise<Rehearsal> {
        const plan = await planFor(stack, CONFIG);
        const parsed = parseConfig(stackConfigFromFiles(ROOT, stack, CONFIG), stack);
        if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
        const [command] = resourcesOfType(plan, "command:local:Command").filter((c) => c.name.endsWith("-deploy-kamal"));
        const planned = plainInputs(command).environment as Record<string, string>;
        const secrets = Object.fromEntries([...planned.RAILS_STACK_SECRET_NAMES.split(" "), TUNNEL_TOKEN_ENV].map((name) => [name, planned[name]]));
        const host = await startRehearsalHost({
            s3Credentials: [{ accessKeyId: secrets.LITESTREAM_ACCESS_KEY_ID, secretAccessKey: secrets.LITESTREAM_SECRET_ACCESS_KEY }],
            buckets: [parsed.settings.storage.backupsBucket],
        });
        try {
            buildKamalProxy(host);
            buildLitestream(host, fs.readFileSync(path.join(host.dir, "ca.pem"), "utf8"));
            return new Rehearsal(stack, plan, parsed.settings, host, kamal, secrets);
        } catch (err) {
            await host.stop();
            throw err;
        }
    }

    /** The set the plan renders, pointed at the rehearsal host: host name and SSH port differ, nothing else. */
    set(target: DeployTarget = { host: this.host.address, sshPort: this.host.sshPort }): KamalSet {
        const { settings } = this;
        const activeStorage = activeStorageSettings({ bucket: settings.storage.attachmentsBucket, endpoint: r2Endpoint(settings.cloudflare.accountId, settings.storage.jurisdiction) });
        return renderKamalSet(kamalInput(settings, { target, activeStorage, litestream: this.plan.artifacts["kamal/litestream.yml"] }));
    }

    /** Runs the deploy script exactly as the Command does, with the environment it would get. */
    deploy(version: string, overrides: { target?: DeployTarget; env?: Record<string, string> } = {}): DeployRun {
        const target = overrides.target ?? { host: this.host.address, sshPort: this.host.sshPort };
        const env = {
            PATH: process.env.PATH,
            HOME: path.join(this.dir, "home"),
            SSH_AUTH_SOCK: this.host.agentSocket,
            RAILS_STACK_KAMAL: this.kamal,
            RAILS_STACK_STATE_DIR: path.join(this.dir, "state"),
            ...deployEnvironment(this.settings, this.set(target), { version }, target),
            RAILS_STACK_APP_DIR: path.join(this.dir, "app"),
            ...this.secrets,
            ...overrides.env,
        };
        const start = Date.now();
        const run = spawnSync("bash", DEPLOY_COMMAND.split(" ").slice(1), { cwd: ROOT, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
        return { status: run.status, output: `${run.stdout}${run.stderr}`, seconds: (Date.now() - start) / 1000 };
    }

    /** Kamal by hand, as docs/deploy.md tells an operator to run it. */
    kamalByHand(args: string[]): { status: number | null; output: string } {
        const run = spawnSync(this.kamal, [...args, "-c", path.join(this.setDir, KAMAL_FILES.base), "-d", this.stack], {
            cwd: path.join(this.dir, "app"),
            env: { PATH: process.env.PATH, HOME: path.join(this.dir, "home"), SSH_AUTH_SOCK: this.host.agentSocket, RAILS_STACK_KAMAL_DIR: this.setDir, ...this.secrets },
            encoding: "utf8",
        });
        return { status: run.status, output: `${run.stdout}${run.stderr}` };
    }

    containers(): { name: string; id: string; image: string; state: string }[] {
        const lines = this.host.docker(["ps", "-a", "--format", "{{.Names}} {{.ID}} {{.Image}} {{.State}}"]).trim();
        return lines ? lines.split("\n").map((l) => l.split(" ")).map(([name, id, image, state]) => ({ name, id, image, state })) : [];
    }

    running(namePrefix: string): { name: string; id: string; image: string; state: string }[] {
        return this.containers().filter((c) => c.name.startsWith(namePrefix) && c.state === "running");
    }

    inspect(container: string, format: string): string {
        return this.host.docker(["inspect", "--format", format, container]).trim();
    }

    /** Everything a secret could have leaked into: the deploy output, Kamal's log, every container's log. */
    logs(runs: readonly DeployRun[]): string {
        const kamalLog = fs.existsSync(path.join(this.setDir, "kamal.log")) ? fs.readFileSync(path.join(this.setDir, "kamal.log"), "utf8") : "";
        const containerLogs = this.containers().map((c) => this.host.dockerStatus(["logs", c.id]).output);
        return [...runs.map((r) => r.output), kamalLog, ...containerLogs].join("\n");
    }

    assertNoSecretIn(text: string): void {
        for (const [name, value] of Object.entries(this.secrets)) assert.ok(!text.includes(value), `the value of ${name} appears in a log`);
    }

    async waitFor(what: string, seconds: number, check: () => boolean): Promise<void> {
        const deadline = Date.now() + seconds * 1000;
        while (!check()) {
            if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds}s`);
            await new Promise((resolve) => setTimeout(resolve, 250));
        }
    }
}

/** Files under a directory, recursively, relative to it. */
const filesUnder = (dir: string): string[] =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))) : [];

describe("deploy rehearsal: the real Kamal deploys the rendered stack onto a local host", function () {
    this.timeout(240_000);
    let kamal: string | undefined;
    const started = Date.now();

    before(function () {
        const why = rehearsalUnavailable();
        kamal = kamalExecutable();
        if (why || !kamal) {
            if (process.env.REQUIRE_VALIDATORS === "1") throw new Error(`the deploy rehearsal cannot run here: ${why ?? "no Kamal (RAILS_STACK_KAMAL)"}`);
            this.skip();
        }
    });
    after(() => process.stdout.write(`      (deploy rehearsal: ${((Date.now() - started) / 1000).toFixed(1)}s)\n`));

    describe("staging: first deploy, a second version, and what goes wrong", () => {
        let r: Rehearsal;
        const runs: DeployRun[] = [];
        before(async () => {
            r = await Rehearsal.start("staging", kamal!);
            buildApp(r.host, REPOSITORY, "v1", true);
            buildApp(r.host, REPOSITORY, "v2", true);
            buildApp(r.host, REPOSITORY, "v3", false);
        });
        after(async () => r && (await r.host.stop()));

        it("points the plan's set at the host by host name and SSH port only", () => {
            const set = r.set();
            const back = (text: string) =>
                text.split(r.host.address).join("shop-staging-web-1").replace(`Port ${r.host.sshPort}\n`, "Port 22\n").replace(`port: ${r.host.sshPort}\n`, "port: 22\n");
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


        it("a deploy lock left by an interrupted run stops the step, which prints the recovery", () => {
            const acquired = r.kamalByHand(["lock", "acquire", "-m", "rehearsal: an interrupted deploy"]);
            assert.strictEqual(acquired.status, 0, acquired.output);
            const locked = r.deploy("v2");
            runs.push(locked);
            assert.notStrictEqual(locked.status, 0);
            assert.match(locked.output, /Deploy lock found/);
            const recovery = /^deploy: {3}(\(cd .* lock release .*\))$/m.exec(locked.output);
            assert.ok(recovery, locked.output);
            const released = spawnSync("bash", ["-c", recovery[1]], {
                env: { PATH: process.env.PATH, HOME: path.join(r.dir, "home"), SSH_AUTH_SOCK: r.host.agentSocket },
                encoding: "utf8",
            });
            assert.strictEqual(released.status, 0, `${released.stdout}${released.stderr}`);
            assert.deepStrictEqual(r.running("shop-web-staging-").map((c) => c.image), [`${REPOSITORY}:v1`], "nothing changed meanwhile");
        });

        it("after the recovery, a second deploy: the new version runs, the database was copied first, nothing booted twice", () => {
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
        });
        it("an image whose health check fails: Kamal's exit code fails the step, the previous version keeps running", () => {
            const run = r.deploy("v3");
            runs.push(run);
            assert.notStrictEqual(run.status, 0);
            assert.match(run.output, /deploy: error: kamal setup failed with exit code \d+/);
            assert.match(run.output, /target failed to become healthy/);
            assert.deepStrictEqual(r.running("shop-web-staging-").map((c) => c.image), [`${REPOSITORY}:v2`]);
        });
        it("a host that never answers: the step fails within its bound and names the host", () => {
            const run = r.deploy("v2", { target: { host: r.host.address, sshPort: r.host.sshPort + 1 }, env: { RAILS_STACK_WAIT_SECONDS: "3", RAILS_STACK_WAIT_INTERVAL: "0.5" } });
            runs.push(run);
            assert.strictEqual(run.status, 1);
            assert.match(run.output, new RegExp(`deploy: error: host ${r.host.address.replace(/\./g, "\\.")} did not answer over SSH within 3s`));
            assert.ok(run.seconds < 30, `${run.seconds}s`);
        });

        it("no secret value appears in any log", () => {
            r.assertNoSecretIn(r.logs(runs));
        });
    });

    describe("pr-7: a review stack's first deploy", () => {
        let r: Rehearsal;
        before(async () => {
            r = await Rehearsal.start("pr-7", kamal!);
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
            assert.strictEqual(r.settings.storage.backupsBucket, "shop-pr-7-backups");
            await r.waitFor("a snapshot under pr-7/primary", 30, () => filesUnder(bucket).some((f) => f.startsWith("pr-7/primary/generations/")));
            r.assertNoSecretIn(r.logs([run]));
        });
    });
});
