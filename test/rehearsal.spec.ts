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
import { r2Endpoint } from "../lib/naming";
import { DeployTiming, deployTiming, writeDeployRecord } from "../plan/deploy-overhead";
import { rehearsalUnavailable, RehearsalHost, startRehearsalHost } from "./rehearsal/host";
import { buildApp, buildKamalProxy, buildLitestream } from "./rehearsal/images";
import { kamalExecutable, OkPlan, plainInputs, planFor, resourcesOfType, ROOT } from "./support";

/**
 * What a user would set: the rehearsal's registry, an image CI already pushed, and a health-check
 * wait that fits an app booting in a second or two (the failing health check waits it out).
 */
const CONFIG = { registryServer: "127.0.0.1:5000", buildImage: "false", appVersion: "v1", deployTimeout: "10" };
const REPOSITORY = `${CONFIG.registryServer}/acme/shop`;

interface DeployRun {
    readonly status: number | null;
    /** The summary the Command keeps. */
    readonly stdout: string;
    readonly output: string;
    readonly seconds: number;
}

/** Every successful deploy's step and Kamal times, for `npm run bench` (plan/deploy-overhead.ts). */
const deployTimings: DeployTiming[] = [];

/** What Tailscale tells the deployer about the tailnet (ipnstate.Status): the given devices. */
const tailnetStatus = (peers: readonly object[]): string => JSON.stringify({ BackendState: "Running", Peer: Object.fromEntries(peers.map((p, i) => [`nodekey:${i}`, p])) });

/** One stack's rehearsal: its plan, a host, and the deploy script pointed at that host. */
class Rehearsal {
    readonly dir: string;
    readonly setDir: string;
    /** Where the deployer's `tailscale` stand-in is (test/stand-ins/tailscale). */
    private readonly bin: string;
    /** What that stand-in says the tailnet holds: the host, online, with the stack's tags and its SSH key. */
    readonly tailnet: string;
    readonly hostname: string;
    private constructor(
        readonly stack: string,
        readonly plan: OkPlan,
        readonly settings: Settings,
        readonly host: RehearsalHost,
        readonly kamal: string,
        readonly secrets: Record<string, string>,
    ) {
        this.dir = path.join(host.dir, "deployer");
        this.setDir = path.join(this.dir, "state", `shop-${stack}`);
        this.hostname = `shop-${stack}-web-1`;
        this.bin = path.join(this.dir, "bin");
        this.tailnet = path.join(this.dir, "tailnet.json");
        fs.mkdirSync(path.join(this.dir, "home"), { recursive: true });
        fs.mkdirSync(this.bin);
        fs.copyFileSync(path.join(ROOT, "test", "stand-ins", "tailscale"), path.join(this.bin, "tailscale"));
        fs.chmodSync(path.join(this.bin, "tailscale"), 0o755);
        fs.writeFileSync(this.tailnet, tailnetStatus([this.peer()]));
        // The app's checkout: Kamal commands run by hand take their version from its git commit.
        const app = path.join(this.dir, "app");
        fs.cpSync(path.join(ROOT, "test", "fixtures", "apps", "healthy"), app, { recursive: true });
        const identity = { GIT_AUTHOR_NAME: "r", GIT_AUTHOR_EMAIL: "r@example.com", GIT_COMMITTER_NAME: "r", GIT_COMMITTER_EMAIL: "r@example.com" };
        // The versions CI pushed are commits of the checkout, tagged (the doctor reads the app at them).
        for (const args of [["init", "-q"], ["add", "."], ["commit", "-qm", "app"], ["tag", "v1"], ["tag", "v2"], ["tag", "v3"], ["tag", "v4"]]) execFileSync("git", ["-C", app, ...args], { env: { ...process.env, ...identity } });
    }

    /** The host as Tailscale reports it (ipnstate.PeerStatus): its name, tags, address and SSH host key. */
    peer(overrides: Record<string, unknown> = {}): object {
        const { host, settings } = this;
        return { ID: `n${this.stack}`, HostName: this.hostname, DNSName: `${this.hostname}.tail1234.ts.net.`, TailscaleIPs: [host.address], Tags: settings.tailscale.tags, Online: true, sshHostKeys: [host.hostKey], ...overrides };
    }

    /** A rehearsal of `stack`; with `takeOver`, on a new host that gets that (halted) one's volume. */
    static async start(stack: string, kamal: string, takeOver?: Rehearsal): Promise<Rehearsal> {
        const plan = await planFor(stack, CONFIG);
        const parsed = parseConfig(stackConfigFromFiles(ROOT, stack, CONFIG), stack);
        if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
        const [command] = resourcesOfType(plan, "command:local:Command").filter((c) => c.name.endsWith("-deploy-kamal"));
        const planned = plainInputs(command).environment as Record<string, string>;
        const secrets = Object.fromEntries([...planned.RAILS_STACK_SECRET_NAMES.split(" "), TUNNEL_TOKEN_ENV].map((name) => [name, planned[name]]));
        const host = await startRehearsalHost({
            s3Credentials: [{ accessKeyId: secrets.LITESTREAM_ACCESS_KEY_ID, secretAccessKey: secrets.LITESTREAM_SECRET_ACCESS_KEY }],
            buckets: [parsed.settings.storage.backupsBucket],
            ...(takeOver ? { takeOver: takeOver.host } : {}),
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

    /** The set the plan renders, pointed at the rehearsal host: its SSH port differs, nothing else. */
    set(target: DeployTarget = { host: this.hostname, sshPort: this.host.sshPort }, settings: Settings = this.settings): KamalSet {
        const activeStorage = activeStorageSettings({ bucket: settings.storage.attachmentsBucket, endpoint: r2Endpoint(settings.cloudflare.accountId, settings.storage.jurisdiction) });
        return renderKamalSet(kamalInput(settings, { target, activeStorage, litestream: this.plan.artifacts["kamal/litestream.yml"] }));
    }

    /** Runs the deploy script exactly as the Command does, with the environment it would get; `pin` sets appImageDigest. */
    deploy(version: string, overrides: { target?: DeployTarget; env?: Record<string, string>; pin?: string } = {}): DeployRun {
        const target = overrides.target ?? { host: this.hostname, sshPort: this.host.sshPort };
        const settings = overrides.pin ? { ...this.settings, deploy: { ...this.settings.deploy, appImageDigest: overrides.pin } } : this.settings;
        const env = {
            PATH: `${this.bin}:${process.env.PATH}`,
            TAILSCALE_STANDIN_STATUS: this.tailnet,
            HOME: path.join(this.dir, "home"),
            SSH_AUTH_SOCK: this.host.agentSocket,
            RAILS_STACK_KAMAL: this.kamal,
            RAILS_STACK_STATE_DIR: path.join(this.dir, "state"),
            ...deployEnvironment(settings, this.set(target, settings), { version }, target),
            RAILS_STACK_APP_DIR: path.join(this.dir, "app"),
            ...this.secrets,
            ...overrides.env,
        };
        const start = Date.now();
        const run = spawnSync("bash", DEPLOY_COMMAND.split(" ").slice(1), { cwd: ROOT, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
        const timing = run.status === 0 ? deployTiming(`${this.stack} ${version}`, run.stdout) : undefined;
        if (timing) deployTimings.push(timing);
        return { status: run.status, stdout: run.stdout, output: `${run.stdout}${run.stderr}`, seconds: (Date.now() - start) / 1000 };
    }

    /** `npm run restore-drill -- --stack <stack>` as an operator runs it, with Litestream's credentials. */
    restoreDrill(credentials: { accessKeyId: string; secretAccessKey: string } = { accessKeyId: this.secrets.LITESTREAM_ACCESS_KEY_ID, secretAccessKey: this.secrets.LITESTREAM_SECRET_ACCESS_KEY }): { status: number | null; stdout: string; stderr: string } {
        // R2's name resolves to the S3 stand-in only in a mount namespace whose /etc/hosts says so;
        // the stand-in's certificate is signed by the rehearsal's CA.
        const hosts = path.join(this.dir, "hosts");
        fs.writeFileSync(hosts, `127.0.0.1 localhost\n${this.host.outsideAddress} ${new URL(r2Endpoint(this.settings.cloudflare.accountId, this.settings.storage.jurisdiction)).hostname}\n`);
        const ca = path.join(this.host.dir, "ca.pem");
        const run = spawnSync(
            "unshare",
            ["--mount", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, process.execPath, "launch.js", "deploy/restore-drill-cli", "--stack", this.stack],
            {
                cwd: ROOT,
                encoding: "utf8",
                env: { PATH: process.env.PATH, HOME: path.join(this.dir, "home"), SSL_CERT_FILE: ca, NODE_EXTRA_CA_CERTS: ca, LITESTREAM_ACCESS_KEY_ID: credentials.accessKeyId, LITESTREAM_SECRET_ACCESS_KEY: credentials.secretAccessKey },
            },
        );
        return { status: run.status, stdout: run.stdout, stderr: run.stderr };
    }

    /** Kamal by hand, as docs/deploy.md tells an operator to run it. */
    kamalByHand(args: string[]): { status: number | null; output: string } {
        const run = spawnSync(this.kamal, [...args, "-c", path.join(this.setDir, KAMAL_FILES.base), "-d", this.stack], {
            cwd: path.join(this.dir, "app"),
            env: { PATH: `${this.bin}:${process.env.PATH}`, TAILSCALE_STANDIN_STATUS: this.tailnet, HOME: path.join(this.dir, "home"), SSH_AUTH_SOCK: this.host.agentSocket, RAILS_STACK_KAMAL_DIR: this.setDir, ...this.secrets },
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
    let started = Date.now();

    before(function () {
        started = Date.now();
        const why = rehearsalUnavailable();
        kamal = kamalExecutable();
        if (why || !kamal) {
            if (process.env.REQUIRE_VALIDATORS === "1") throw new Error(`the deploy rehearsal cannot run here: ${why ?? "no Kamal (RAILS_STACK_KAMAL)"}`);
            this.skip();
        }
    });
    after(() => {
        process.stdout.write(`      (deploy rehearsal: ${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
        if (deployTimings.length > 0) writeDeployRecord(ROOT, deployTimings);
    });

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
                env: { PATH: `${path.join(r.dir, "bin")}:${process.env.PATH}`, TAILSCALE_STANDIN_STATUS: r.tailnet, HOME: path.join(r.dir, "home"), SSH_AUTH_SOCK: r.host.agentSocket },
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
        it("a pinned digest: the one the deploy printed runs; a tag moved since is refused before anything boots; the host is logged out", () => {
            const repoDigest = (tag: string) => r.host.docker(["image", "inspect", "--format", "{{index .RepoDigests 0}}", `${REPOSITORY}:${tag}`]).trim().split("@")[1];
            // What the v2 deploy printed is what Docker recorded for the pull.
            const v2 = runs.find((run) => run.status === 0 && run.stdout.includes(`image: ${REPOSITORY}:v2 is `));
            assert.ok(v2?.stdout.includes(`image: ${REPOSITORY}:v2 is ${repoDigest("v2")}\n`), v2?.stdout);
            // Kamal logged the host in to pull; the step logged it out (Kamal leaves the credential).
            const dockerConfig = path.join(r.host.dir, "home", "deploy", ".docker", "config.json");
            const auths = () => Object.keys((JSON.parse(fs.readFileSync(dockerConfig, "utf8")) as { auths?: object }).auths ?? {});
            assert.deepStrictEqual(auths(), [], "no registry credential left on the host");

            buildApp(r.host, REPOSITORY, "v4", true);
            const reviewed = repoDigest("v4");
            const pinned = r.deploy("v4", { pin: reviewed });
            runs.push(pinned);
            assert.strictEqual(pinned.status, 0, pinned.output);
            assert.deepStrictEqual(r.running("shop-web-staging-").map((c) => c.image), [`${REPOSITORY}:v4`]);

            // The tag moves to a rebuild; the reviewed digest still pins the deploy.
            buildApp(r.host, REPOSITORY, "v4", true, "rebuilt");
            assert.notStrictEqual(repoDigest("v4"), reviewed);
            const moved = r.deploy("v4", { pin: reviewed });
            runs.push(moved);
            assert.notStrictEqual(moved.status, 0);
            assert.match(moved.output, new RegExp(`${REPOSITORY.replace(/[.]/g, "\\.")}:v4 on ${r.hostname} was pulled as ${REPOSITORY.replace(/[.]/g, "\\.")}@sha256:[0-9a-f]{64}, not appImageDigest ${reviewed}: the tag moved since review`));
            const web = r.running("shop-web-staging-");
            assert.strictEqual(web.length, 1);
            assert.strictEqual(r.inspect(web[0].id, "{{.Image}}"), r.host.docker(["image", "inspect", "--format", "{{.Id}}", `${REPOSITORY}@${reviewed}`]).trim(), "the reviewed image keeps running");
            assert.deepStrictEqual(auths(), [], "logged out after a failed deploy too");
        });

        it("a host that never answers: the step fails within its bound and names the host", () => {
            const run = r.deploy("v2", { target: { host: r.hostname, sshPort: r.host.sshPort + 1 }, env: { RAILS_STACK_WAIT_SECONDS: "3", RAILS_STACK_WAIT_INTERVAL: "0.5" } });
            runs.push(run);
            assert.strictEqual(run.status, 1);
            assert.match(run.output, /deploy: error: host shop-staging-web-1 did not answer over SSH within 3s/);
            assert.ok(run.seconds < 30, `${run.seconds}s`);
        });

        it("a device that claims the host's name without the stack's tags gets nothing: no SSH session reaches it", () => {
            const real = fs.readFileSync(r.tailnet, "utf8");
            fs.writeFileSync(r.tailnet, tailnetStatus([r.peer({ ID: "nIMPOSTOR", Tags: [] }), r.peer({ Online: false })]));
            const sshdLog = fs.readFileSync(path.join(r.host.dir, "sshd.log"), "utf8");
            try {
                const run = r.deploy("v2", { env: { RAILS_STACK_WAIT_SECONDS: "1", RAILS_STACK_WAIT_INTERVAL: "0.5" } });
                runs.push(run);
                assert.strictEqual(run.status, 1);
                assert.match(run.output, /deploy: error: no online tailnet device is shop-staging-web-1 with tags tag:rails-staging; 1 with them is offline; ignored, for lacking them: nIMPOSTOR \(tags: none\)/);
                assert.strictEqual(fs.readFileSync(path.join(r.host.dir, "sshd.log"), "utf8"), sshdLog, "no connection reached the host's sshd");
            } finally {
                fs.writeFileSync(r.tailnet, real);
            }
        });

        it("the restore drill: every replica restores, with its age, restore time, integrity and largest table", () => {
            const drill = r.restoreDrill();
            assert.strictEqual(drill.status, 0, `${drill.stdout}${drill.stderr}`);
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

        describe("a second host takes over the volume, as a replacement server does", () => {
            let next: Rehearsal;
            let rowsBefore: string;
            const primaryRows = (host: Rehearsal) => spawnSync("sqlite3", [path.join(host.host.storage, "staging.sqlite3"), "SELECT version FROM boots ORDER BY rowid"], { encoding: "utf8" }).stdout;
            before(async () => {
                // A clean shutdown (the provider's shutdownBeforeDeletion): the containers stop, then the machine.
                r.host.docker(["stop", ...r.running("").map((c) => c.id)]);
                await r.host.halt();
                rowsBefore = primaryRows(r);
                next = await Rehearsal.start("staging", kamal!, r);
            });
            after(async () => next && (await next.host.stop()));

            it("the new host deploys on the data it finds: intact, nothing restored over it", () => {
                const run = next.deploy("v2");
                assert.strictEqual(run.status, 0, run.output);
                assert.match(run.stdout, /^restored from replicas: nothing$/m);
                assert.strictEqual(primaryRows(next), `${rowsBefore}v2\n`);
                next.assertNoSecretIn(next.logs([run]));
            });

            it("the drill fails with one matching line for a deleted object, a damaged WAL segment, a refused key and a missing bucket", () => {
                // Nothing writes to the replica meanwhile.
                next.host.docker(["stop", "shop-litestream"]);
                const bucket = path.join(next.host.s3, next.settings.storage.backupsBucket);
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
                const aside = path.join(next.dir, "aside");
                fs.mkdirSync(aside);
                for (const file of s3rverFiles(snapshot)) fs.renameSync(file, path.join(aside, path.basename(file)));
                expectLine("deleted object", new RegExp(`^restore-drill: primary: generation ${newest} of its replica has no snapshot, so nothing restores from it$`, "m"), next.restoreDrill());
                for (const file of s3rverFiles(snapshot)) fs.renameSync(path.join(aside, path.basename(file)), file);

                const wal = ofNewest.filter((f) => f.includes("/wal/")).pop()!;
                const walFile = path.join(bucket, wal);
                const intact = fs.readFileSync(walFile);
                fs.writeFileSync(walFile, intact.subarray(0, 12));
                expectLine("truncated WAL segment", new RegExp(`^restore-drill: primary: ${wal.replace("._S3rver_object", "").replace(/\./g, "\\.")} is damaged`, "m"), next.restoreDrill());
                fs.writeFileSync(walFile, intact);

                expectLine("wrong key", /^restore-drill: credentials refused by s3:\/\/shop-staging-backups at https:\/\/\S+ \((InvalidAccessKeyId|HTTP 403)\)/m, next.restoreDrill({ accessKeyId: "AKIAWRONGKEY", secretAccessKey: "wrong" }));

                fs.renameSync(bucket, `${bucket}.gone`);
                expectLine("missing bucket", /^restore-drill: bucket missing: s3:\/\/shop-staging-backups at https:\/\/\S+ does not exist \(backupsBucket\)$/m, next.restoreDrill());
                fs.renameSync(`${bucket}.gone`, bucket);
                assert.strictEqual(next.restoreDrill().status, 0, "the replica, put back, restores again");
            });
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
            // The review pool (staging's), under the review stack's own prefix.
            assert.strictEqual(r.settings.storage.backupsBucket, "shop-review-backups");
            await r.waitFor("a snapshot under pr-7/primary", 30, () => filesUnder(bucket).some((f) => f.startsWith("pr-7/primary/generations/")));
            r.assertNoSecretIn(r.logs([run]));
        });
    });
});
