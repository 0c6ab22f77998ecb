// One stack's deploy rehearsal (the test/rehearsal/*.spec.ts parts use it): the stack's offline plan,
// a rehearsal host (host.ts), and the product's deploy script, unchanged, run exactly as the deploy
// Command runs it, pointed at that host. The parts run side by side (mocha's parallel mode, one
// worker each), each on hosts of its own.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { deployEnvironment, DEPLOY_COMMAND, TUNNEL_TOKEN_ENV } from "../../components/deploy";
import { parseConfig } from "../../config/parse";
import type { Settings } from "../../config/settings";
import { stackConfigFromFiles } from "../../plan/run";
import { activeStorageSettings } from "../../renderers/active-storage";
import { DeployTarget, KAMAL_FILES, kamalInput, KamalSet, renderKamalSet } from "../../renderers/kamal";
import { r2Endpoint } from "../../lib/naming";
import { DeployTiming, deployTiming, writeDeployRecord } from "../../plan/deploy-overhead";
import { rehearsalUnavailable, RehearsalHost, startRehearsalHost } from "./host";
import { buildApp, buildKamalProxy, buildLitestream } from "./images";
import { kamalExecutable, OkPlan, plainInputs, planFor, resourcesOfType, ROOT } from "../support";

/**
 * What a user would set: the rehearsal's registry, an image CI already pushed, and a health-check
 * wait that fits an app booting in a second or two (the failing health check waits it out).
 */
export const CONFIG = { registryServer: "127.0.0.1:5000", buildImage: "false", appVersion: "v1", deployTimeout: "10" };
export const REPOSITORY = `${CONFIG.registryServer}/acme/shop`;

export interface DeployRun {
    readonly status: number | null;
    /** The summary the Command keeps. */
    readonly stdout: string;
    readonly output: string;
    readonly seconds: number;
}

/** What Tailscale tells the deployer about the tailnet (ipnstate.Status): the given devices. */
/** What a part of the rehearsal shares with its stacks: Kamal, and its deploys' timings for `npm run bench`. */
export interface RehearsalSuite {
    kamal: string;
    readonly timings: DeployTiming[];
}

/** A stack's offline plan with the rehearsal's settings, and the secrets its deploy Command gets. */
async function plannedStack(stack: string): Promise<{ plan: OkPlan; settings: Settings; secrets: Record<string, string> }> {
    const plan = await planFor(stack, CONFIG);
    const parsed = parseConfig(stackConfigFromFiles(ROOT, stack, CONFIG), stack);
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    const [command] = resourcesOfType(plan, "command:local:Command").filter((c) => c.name.endsWith("-deploy-kamal"));
    const planned = plainInputs(command).environment as Record<string, string>;
    const secrets = Object.fromEntries([...planned.RAILS_STACK_SECRET_NAMES.split(" "), TUNNEL_TOKEN_ENV].map((name) => [name, planned[name]]));
    return { plan, settings: parsed.settings, secrets };
}

export const tailnetStatus = (peers: readonly object[]): string => JSON.stringify({ BackendState: "Running", Peer: Object.fromEntries(peers.map((p, i) => [`nodekey:${i}`, p])) });

/** One stack's rehearsal: its plan, a host, and the deploy script pointed at that host. */
export class Rehearsal {
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
        private readonly suite: RehearsalSuite,
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

    /**
     * A rehearsal of `stack`, with the healthy app at each of `apps` pushed to its registry; with
     * `takeOver`, on a new host that gets that (halted) one's volume and registry.
     */
    static async start(stack: string, suite: RehearsalSuite, options: { apps?: readonly string[]; takeOver?: Rehearsal } = {}): Promise<Rehearsal> {
        const { takeOver } = options;
        // A replacement host of the same stack deploys the same plan.
        const { plan, settings, secrets } = takeOver?.stack === stack ? takeOver : await plannedStack(stack);
        const host = await startRehearsalHost({
            s3Credentials: [{ accessKeyId: secrets.LITESTREAM_ACCESS_KEY_ID, secretAccessKey: secrets.LITESTREAM_SECRET_ACCESS_KEY }],
            buckets: [settings.storage.backupsBucket],
            ...(takeOver ? { takeOver: takeOver.host } : {}),
        });
        try {
            buildKamalProxy(host);
            await buildLitestream(host, fs.readFileSync(path.join(host.dir, "ca.pem"), "utf8"));
            for (const version of options.apps ?? []) buildApp(host, REPOSITORY, version, true);
            return new Rehearsal(stack, plan, settings, host, suite, secrets);
        } catch (err) {
            await host.stop();
            throw err;
        }
    }

    /** The app at `version` pushed to the host's registry: one that fails its health check, or another build of a version. */
    pushApp(version: string, options: { healthy?: boolean; build?: string } = {}): void {
        buildApp(this.host, REPOSITORY, version, options.healthy ?? true, options.build);
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
            RAILS_STACK_KAMAL: this.suite.kamal,
            RAILS_STACK_STATE_DIR: path.join(this.dir, "state"),
            ...deployEnvironment(settings, this.set(target, settings), { version }, target),
            RAILS_STACK_APP_DIR: path.join(this.dir, "app"),
            ...this.secrets,
            ...overrides.env,
        };
        const start = Date.now();
        const run = spawnSync("bash", DEPLOY_COMMAND.split(" ").slice(1), { cwd: ROOT, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
        const timing = run.status === 0 ? deployTiming(`${this.stack} ${version}`, run.stdout) : undefined;
        if (timing) this.suite.timings.push(timing);
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
        const run = spawnSync(this.suite.kamal, [...args, "-c", path.join(this.setDir, KAMAL_FILES.base), "-d", this.stack], {
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
export const filesUnder = (dir: string): string[] =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))) : [];


/** The registry digest the host's Docker recorded for a tag of the app (what a pull or push of it told it). */
export function repoDigest(r: Rehearsal, tag: string): string {
    return r.host.docker(["image", "inspect", "--format", "{{index .RepoDigests 0}}", `${REPOSITORY}:${tag}`]).trim().split("@")[1];
}

/** The registries the deploy user's Docker holds a credential for (Kamal logs the host in to pull). */
export function registryLogins(r: Rehearsal): string[] {
    const dockerConfig = path.join(r.host.dir, "home", "deploy", ".docker", "config.json");
    return Object.keys((JSON.parse(fs.readFileSync(dockerConfig, "utf8")) as { auths?: object }).auths ?? {});
}

/**
 * A part of the rehearsal: skips where the machine cannot run it, unless REQUIRE_VALIDATORS=1 (CI),
 * which makes that a failure; prints its time and records its deploys' timings under `part`.
 */
export function describeRehearsal(part: string, title: string, body: (suite: RehearsalSuite) => void): void {
    describe(`deploy rehearsal: ${title}`, function () {
        this.timeout(240_000);
        const suite: RehearsalSuite = { kamal: "", timings: [] };
        let started = Date.now();
        before(function () {
            started = Date.now();
            const why = rehearsalUnavailable();
            const kamal = kamalExecutable();
            if (why || !kamal) {
                if (process.env.REQUIRE_VALIDATORS === "1") throw new Error(`the deploy rehearsal cannot run here: ${why ?? "no Kamal (RAILS_STACK_KAMAL)"}`);
                this.skip();
            }
            suite.kamal = kamal;
        });
        after(() => {
            process.stdout.write(`      (deploy rehearsal, ${part}: ${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
            if (suite.timings.length > 0) writeDeployRecord(ROOT, part, suite.timings);
        });
        body(suite);
    });
}
