// deploy/kamal-deploy.sh, the script the deploy Command runs, exercised with recording stand-ins
// for SSH (the host) and Kamal, with the environment the Command really passes (from the offline
// plan) and the real app checker on fixture apps. The rehearsal (test/rehearsal/) runs the real Kamal.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEPLOY_COMMAND } from "../components/deploy";
import { deployTiming, overheadLines, readDeployRecords, writeDeployRecord } from "../plan/deploy-overhead";
import { KAMAL_FILES } from "../renderers/kamal";
import { haveTool, OkPlan, plainInputs, planFor, resourcesOfType, ROOT } from "./support";

const SCRIPT = path.join(ROOT, DEPLOY_COMMAND.split(" ")[1]);

/** As the Kamal stand-in fingerprints the registry password it got. */
const fingerprint = (value: string): string => createHash("sha256").update(value).digest("hex").slice(0, 12);

/** The Kamal stand-in's log, one entry per run (each starts with cwd=). */
function kamalRuns(log: string[]): { args: string; registry: string; pushEnv: string }[] {
    const runs: { args: string; registry: string; pushEnv: string }[] = [];
    for (const line of log) {
        const [key, value] = [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)];
        if (key === "cwd") runs.push({ args: "", registry: "", pushEnv: "" });
        const run = runs.at(-1)!;
        if (key === "args") run.args = value.replace(/ -c \S+\/deploy\.yml -d \S+$/, "");
        if (key === "registry") run.registry = value;
        if (key === "push-env") run.pushEnv = value;
    }
    return runs;
}

/**
 * A host stand-in: answers per FAKE_* knobs for what only a host has (SSH reachability, cloud-init,
 * Docker), runs everything else (files in the deploy user's home) in FAKE_HOME, logs every command.
 */
const FAKE_SSH = `#!/bin/bash
set -u
# The step closes its shared connection (ssh -O exit) at the end: nothing to do here.
for arg in "$@"; do [ "$arg" = -O ] && exit 0; done
printf '%s\\n' "$*" | grep -o -- '-F [^ ]*' >>"$FAKE_LOG/ssh-config.log"
cmd="\${@: -1}"
host="\${@: -2:1}"
printf '%s %s\\n' "$host" "$cmd" >>"$FAKE_LOG/ssh.log"
eval "set -- $cmd"
case "$1" in
true)
    if [ "\${FAKE_HOSTKEY_MISMATCH:-0}" = 1 ]; then echo "Host key verification failed." >&2; exit 255; fi
    n=$(($(cat "$FAKE_LOG/attempts" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$FAKE_LOG/attempts"
    [ "$n" -gt "\${FAKE_UP_AFTER:-0}" ] || exit 255 ;;
timeout) exit "\${FAKE_CLOUD_INIT_STATUS:-0}" ;;
cloud-init) echo "status: error"; echo "errors: Failed running scripts_user (runcmd)"; exit 1 ;;
docker)
    # The image's RepoDigests, as Docker records them at pull; anything else is the accessory check.
    if [ "$2" = image ]; then printf '%s\n' \${FAKE_REPO_DIGESTS:-}; exit 0; fi
    [ "\${FAKE_ACCESSORY_EXISTS:-0}" = 1 ] ;;
*)
    if [ "$*" = "cat /var/lib/rails-host/bootstrap.report" ]; then echo "failed mount_storage (exit 1)"; exit 0; fi
    mkdir -p "$FAKE_HOME" && cd "$FAKE_HOME" && exec "$@" ;;
esac
`;

/**
 * A Kamal stand-in: records its directory, arguments and which secrets it received (names only),
 * the registry password it would log in with (a fingerprint) and whether the push credential was
 * in its environment at all.
 * `version` prints a version alone, as Kamal does (lib/kamal/cli/main.rb), for the doctor's floor.
 */
const FAKE_KAMAL = `#!/bin/bash
if [ "$1" = version ]; then echo "\${FAKE_KAMAL_VERSION:-2.12.0}"; exit 0; fi
{
    printf 'cwd=%s\\n' "$PWD"
    printf 'dir=%s\\n' "$RAILS_STACK_KAMAL_DIR"
    printf 'args=%s\\n' "$*"
    for name in $RAILS_STACK_SECRET_NAMES; do [ -n "\${!name:-}" ] && printf 'secret=%s\\n' "$name"; done
    printf 'registry=%s\\n' "$(printf '%s' "$KAMAL_REGISTRY_PASSWORD" | sha256sum | cut -c1-12)"
    printf 'push-env=%s\\n' "\${RAILS_STACK_REGISTRY_PUSH_PASSWORD:+present}"
} >>"$FAKE_LOG/kamal.log"
[ -f "$RAILS_STACK_KAMAL_DIR/deploy.yml" ] || { echo "fake kamal: no deploy.yml" >&2; exit 98; }
if [ "$1" = setup ] && [ "\${FAKE_KAMAL_LOCK:-0}" = 1 ]; then echo "  ERROR (Kamal::Cli::LockError): Deploy lock found. Run 'kamal lock help' for more information"; exit 1; fi
echo "  INFO [0f3a] Running docker run on shop-staging-web-1"
echo "fake kamal: $1 done"
case "$1" in
build) exit "\${FAKE_KAMAL_BUILD_EXIT:-0}" ;;
setup) exit "\${FAKE_KAMAL_EXIT:-0}" ;;
esac
`;

/**
 * The host's Docker as the restore script uses it (one docker run of Litestream's image, running
 * restore-in-container.sh): records its arguments and answers as that script does when no
 * database has a replica, a stack's first deploy. The rehearsal runs the real Litestream.
 */
const FAKE_DOCKER = `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE_LOG/docker.log"
while [ "$#" -gt 0 ] && [ "$1" != /usr/local/bin/restore-in-container.sh ]; do shift; done
[ "$#" -gt 2 ] || exit 0
shift 2
for file in "$@"; do echo "fresh $file"; done
`;

/** What Tailscale tells the deployer (ipnstate.Status): the host online, with the stack's tag. */
const tailnetStatus = (peers: object[]) => JSON.stringify({ BackendState: "Running", Peer: Object.fromEntries(peers.map((p, i) => [`nodekey:${i}`, p])) });
const HOST_PEER = {
    ID: "nHOST",
    HostName: "shop-staging-web-1",
    DNSName: "shop-staging-web-1.tail1234.ts.net.",
    TailscaleIPs: ["100.64.0.7", "fd7a:115c:a1e0::7"],
    Tags: ["tag:rails-staging"],
    Online: true,
    sshHostKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheRealHost"],
};

interface Run {
    status: number | null;
    stdout: string;
    output: string;
    seconds: number;
    ssh: string[];
    /** The -F of every ssh call. */
    sshConfigs: string[];
    kamal: string[];
    /** Kamal's runs: arguments without the set's -c/-d, the registry password's fingerprint, whether the push credential was in reach. */
    kamalRuns: { args: string; registry: string; pushEnv: string }[];
    /** The host's docker calls made by the restore script. */
    docker: string[];
}

describe("deploy script with recording stand-ins", function () {
    let tmp: string;
    let plan: OkPlan;
    let baseEnv: Record<string, string>;
    let secretValues: string[];
    let commit: string;

    before(async function () {
        if (!haveTool("git") || !haveTool("bash")) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "deploy-script-"));
        plan = await planFor("staging");
        const [command] = resourcesOfType(plan, "command:local:Command").filter((c) => c.name.endsWith("-deploy-kamal"));
        baseEnv = plainInputs(command).environment as Record<string, string>;
        secretValues = [...baseEnv.RAILS_STACK_SECRET_NAMES.split(" "), "RAILS_STACK_TUNNEL_TOKEN"].map((name) => baseEnv[name]);
        // The app: the healthy fixture, committed, so Kamal could build its HEAD.
        const app = path.join(tmp, "app");
        fs.cpSync(path.join(ROOT, "test", "fixtures", "apps", "healthy"), app, { recursive: true });
        const git = (...args: string[]) => execFileSync("git", ["-C", app, ...args], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" } }).trim();
        git("init", "-q");
        git("add", ".");
        git("commit", "-qm", "app");
        commit = git("rev-parse", "HEAD");
        fs.mkdirSync(path.join(tmp, "bin"));
        fs.writeFileSync(path.join(tmp, "bin", "ssh"), FAKE_SSH, { mode: 0o755 });
        fs.writeFileSync(path.join(tmp, "bin", "docker"), FAKE_DOCKER, { mode: 0o755 });
        fs.copyFileSync(path.join(ROOT, "test", "stand-ins", "tailscale"), path.join(tmp, "bin", "tailscale"));
        fs.chmodSync(path.join(tmp, "bin", "tailscale"), 0o755);
        fs.writeFileSync(path.join(tmp, "tailnet.json"), tailnetStatus([HOST_PEER]));
        fs.writeFileSync(path.join(tmp, "kamal"), FAKE_KAMAL, { mode: 0o755 });
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    /** Runs the script as the Command would, with overrides, in a fresh log/home/state. */
    function deploy(name: string, overrides: Record<string, string> = {}): Run {
        const log = path.join(tmp, name);
        fs.mkdirSync(path.join(log, "home"), { recursive: true });
        const env: Record<string, string> = {
            ...baseEnv,
            PATH: `${path.join(tmp, "bin")}:${process.env.PATH}`,
            HOME: path.join(log, "home"),
            RAILS_STACK_APP_DIR: path.join(tmp, "app"),
            RAILS_STACK_VERSION: commit,
            RAILS_STACK_KAMAL: path.join(tmp, "kamal"),
            RAILS_STACK_STATE_DIR: path.join(tmp, "state"),
            RAILS_STACK_WAIT_INTERVAL: "0.2",
            FAKE_LOG: log,
            FAKE_HOME: path.join(tmp, "remote-home"),
            TAILSCALE_STANDIN_STATUS: path.join(tmp, "tailnet.json"),
            ...overrides,
        };
        const start = Date.now();
        const run = spawnSync("bash", [SCRIPT], { cwd: ROOT, env, encoding: "utf8" });
        const lines = (file: string) => (fs.existsSync(path.join(log, file)) ? fs.readFileSync(path.join(log, file), "utf8").trim().split("\n") : []);
        return {
            status: run.status,
            stdout: run.stdout,
            output: `${run.stdout}${run.stderr}`,
            seconds: (Date.now() - start) / 1000,
            ssh: lines("ssh.log"),
            sshConfigs: lines("ssh-config.log"),
            kamal: lines("kamal.log"),
            kamalRuns: kamalRuns(lines("kamal.log")),
            docker: lines("docker.log"),
        };
    }

    const setDir = () => path.join(tmp, "state", "shop-staging");

    /** No secret value in anything the script printed or wrote, or in the commands it sent to the host. */
    function assertNoSecret(run: Run): void {
        const written = fs.existsSync(setDir())
            ? fs.readdirSync(setDir(), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => fs.readFileSync(path.join(e.parentPath, e.name), "utf8"))
            : [];
        const visible = [run.output, ...run.ssh, ...run.kamal, ...run.docker, ...written].join("\n");
        for (const value of secretValues) assert.ok(!visible.includes(value), "a secret value leaked");
    }

    it("first deploy: writes the set, checks the app, waits for the host, runs kamal setup -d <stack> in the app", () => {
        fs.rmSync(path.join(tmp, "remote-home"), { recursive: true, force: true });
        const run = deploy("first", { FAKE_UP_AFTER: "2", FAKE_REPO_DIGESTS: `other.example/shop@sha256:${"0".repeat(64)} ghcr.io/acme/shop@sha256:${"d".repeat(64)}` });
        assert.strictEqual(run.status, 0, run.output);
        for (const [file, text] of Object.entries(plan.artifacts).filter(([f]) => f.startsWith("kamal/"))) {
            assert.strictEqual(fs.readFileSync(path.join(setDir(), file.slice("kamal/".length)), "utf8"), text, file);
        }
        assert.ok(fs.statSync(path.join(setDir(), KAMAL_FILES.preDeployHook)).mode & 0o100, "the hook is executable");
        assert.match(run.output, /doctor: .* is ready for RAILS_ENV=staging/);
        assert.deepStrictEqual(run.kamal.slice(0, 3), [`cwd=${path.join(tmp, "app")}`, `dir=${setDir()}`, `args=build push --version ${commit} -c ${setDir()}/deploy.yml -d staging`]);
        // Pushed with the push credential, before the host is waited for; the hosts log in with the pull
        // credential, and are logged out on the way out. No run but the push has the push credential.
        const [push, pull] = [fingerprint(baseEnv.RAILS_STACK_REGISTRY_PUSH_PASSWORD), fingerprint(baseEnv.KAMAL_REGISTRY_PASSWORD)];
        assert.notStrictEqual(push, pull);
        assert.deepStrictEqual(run.kamalRuns, [
            { args: `build push --version ${commit}`, registry: push, pushEnv: "" },
            { args: `setup --version ${commit} --skip-push`, registry: pull, pushEnv: "" },
            { args: "registry logout --skip-local", registry: pull, pushEnv: "" },
        ]);
        const secretsPerRun = run.kamal.join("\n").split(/^cwd=/m).slice(1).map((r) => r.split("\n").filter((l) => l.startsWith("secret=")).map((l) => l.slice(7)));
        assert.deepStrictEqual(secretsPerRun[1], baseEnv.RAILS_STACK_SECRET_NAMES.split(" "));
        // Three SSH attempts (the host answered on the third), then cloud-init, the tunnel token, the
        // restore (its files, then the script), the accessory check; all through the verified identity.
        assert.deepStrictEqual(run.ssh.slice(0, 9).map((l) => l.split(" ").slice(0, 2).join(" ")), [
            "shop-staging-web-1 true",
            "shop-staging-web-1 true",
            "shop-staging-web-1 true",
            "shop-staging-web-1 timeout",
            "shop-staging-web-1 sha256sum",
            "shop-staging-web-1 sh",
            "shop-staging-web-1 sh",
            "shop-staging-web-1 bash",
            "shop-staging-web-1 docker",
        ]);
        assert.deepStrictEqual([...new Set(run.sshConfigs)], [`-F ${setDir()}/ssh_identity`]);
        assert.strictEqual(
            fs.readFileSync(path.join(setDir(), "ssh_identity"), "utf8"),
            `# Written by the deploy step: the device Tailscale verified as shop-staging-web-1 (deploy/host-identity.ts).\nInclude "${setDir()}/ssh_config"\nHost shop-staging-web-1\n  HostName 100.64.0.7\n  UserKnownHostsFile "${setDir()}/known_hosts"\n`,
        );
        assert.strictEqual(fs.readFileSync(path.join(setDir(), "known_hosts"), "utf8"), `shop-staging-web-1 ${HOST_PEER.sshHostKeys[0]}\n`);
        // The restore ran Litestream's image once for every replicated database; its credentials went in a file, not argv.
        assert.strictEqual(run.docker.length, 1, run.docker.join("\n"));
        assert.match(run.docker[0], / --entrypoint \/bin\/sh litestream\/litestream:0\.3\.13@sha256:[0-9a-f]{64} \/usr\/local\/bin\/restore-in-container\.sh \/rails\/storage staging\.sqlite3 staging_queue\.sqlite3 staging_cache\.sqlite3 staging_cable\.sqlite3$/);
        assert.match(run.docker[0], / --env-file \/tmp\/\S+ /);
        assert.match(run.docker[0], / --volume \S+\/restore\/restore-in-container\.sh:\/usr\/local\/bin\/restore-in-container\.sh:ro /);
        assert.match(
            run.stdout,
            /^deployed shop [0-9a-f]{40} to shop-staging-web-1 \(100\.64\.0\.7\) with RAILS_ENV=staging in \d+s \(Kamal: \d+s\)\nrestored from replicas: nothing\naccessories rebooted: none\nimage: ghcr\.io\/acme\/shop:[0-9a-f]{40} is sha256:d{64}\n$/,
        );
        assert.ok(!run.kamal.some((l) => l.includes("accessory reboot")), "a freshly booted accessory is not rebooted");
        // The bench reads the step's and Kamal's times from this line.
        const timing = deployTiming("first", run.stdout);
        assert.ok(timing && timing.kamalSeconds <= timing.totalSeconds, run.stdout);
        assert.ok(fs.existsSync(path.join(tmp, "remote-home", ".rails-stack", "shop-staging", "litestream.fingerprint")));
        assertNoSecret(run);
    });

    it("Kamal's own output goes to its log, not to the step's output (which the Pulumi state keeps); its headlines do", () => {
        const run = deploy("kamal-output", { FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(run.status, 0, run.output);
        const log = fs.readFileSync(path.join(setDir(), "kamal.log"), "utf8");
        assert.match(log, /^ {2}INFO \[0f3a\] Running docker run on shop-staging-web-1$/m);
        assert.doesNotMatch(run.output, /INFO \[0f3a\]/);
        assert.match(run.output, /^fake kamal: setup done$/m);
        assert.strictEqual(run.stdout.split("\n").length, 5, run.stdout);
        assert.match(run.stdout, /^image: ghcr\.io\/acme\/shop:[0-9a-f]{40} is unknown \(the host has no registry digest for it\)$/m);
    });

    it("reaches only the device Tailscale vouches for: one that merely claims the name gets nothing, before any SSH", () => {
        const impostor = { ...HOST_PEER, ID: "nIMPOSTOR", Tags: [], TailscaleIPs: ["100.64.0.66"], sshHostKeys: ["ssh-ed25519 AAAAimpostor"] };
        fs.writeFileSync(path.join(tmp, "impostor.json"), tailnetStatus([impostor, { ...HOST_PEER, Online: false }]));
        const run = deploy("impostor", { TAILSCALE_STANDIN_STATUS: path.join(tmp, "impostor.json"), RAILS_STACK_WAIT_SECONDS: "1" });
        assert.strictEqual(run.status, 1);
        assert.match(
            run.output,
            /deploy: error: no online tailnet device is shop-staging-web-1 with tags tag:rails-staging; 1 with them is offline; ignored, for lacking them: nIMPOSTOR \(tags: none\), after waiting 1s/,
        );
        assert.deepStrictEqual(run.ssh, [], "no SSH session at all");
        assert.deepStrictEqual(run.kamalRuns.map((r) => r.args), [`build push --version ${commit}`], "the image pushed, nothing run on a host");
        assertNoSecret(run);
    });

    it("a host whose SSH key is not the one Tailscale reports is refused at once; a deployer off the tailnet stops before SSH", () => {
        const mismatch = deploy("hostkey-mismatch", { FAKE_HOSTKEY_MISMATCH: "1" });
        assert.strictEqual(mismatch.status, 1);
        assert.match(mismatch.output, /deploy: error: the SSH host key of 100\.64\.0\.7 is not the one Tailscale reports for shop-staging-web-1: refusing to send it anything/);
        assert.deepStrictEqual(mismatch.ssh.map((l) => l.split(" ")[1]), ["true"], "one attempt, nothing after it");
        assert.deepStrictEqual(mismatch.kamalRuns.map((r) => r.args), [`build push --version ${commit}`]);
        const offline = deploy("tailscaled-down", { TAILSCALE_STANDIN_STATUS: path.join(tmp, "no-such-status.json") });
        assert.strictEqual(offline.status, 1);
        assert.match(offline.output, /deploy: error: tailscale status failed: failed to connect to local tailscaled; it doesn't appear to be running/);
        assert.deepStrictEqual(offline.ssh, []);
    });

    it("a secret that Kamal's secrets file would run or cut is refused before any SSH session, without printing it", () => {
        for (const [name, value] of [["RAILS_MASTER_KEY", "abc$(id >/tmp/pwned)"], ["KAMAL_REGISTRY_PASSWORD", "pa`id`ss"], ["LITESTREAM_SECRET_ACCESS_KEY", "line1\nline2"]]) {
            const run = deploy(`injection-${name}`, { [name]: value });
            assert.strictEqual(run.status, 1, name);
            assert.match(run.output, new RegExp(`deploy: error: secret ${name} contains \\$\\(, a backtick or a newline`));
            assert.ok(!run.output.includes(value), "the value is not printed");
            assert.deepStrictEqual(run.ssh, []);
            assert.deepStrictEqual(run.kamal, []);
        }
    });

    it("hands the tunnel token to the host on stdin, and only when the host's copy differs", () => {
        const tokenFile = path.join(tmp, "remote-home", ".rails-host", "tunnel-token");
        assert.strictEqual(fs.readFileSync(tokenFile, "utf8"), `${baseEnv.RAILS_STACK_TUNNEL_TOKEN}\n`, "the first deploy wrote it");
        assert.strictEqual(fs.statSync(tokenFile).mode & 0o777, 0o600);
        const unchanged = deploy("token-unchanged", { FAKE_ACCESSORY_EXISTS: "1" });
        assert.ok(!unchanged.output.includes("handing the tunnel token"), "an unchanged token is not rewritten (a write restarts cloudflared)");
        const rotated = deploy("token-rotated", { FAKE_ACCESSORY_EXISTS: "1", RAILS_STACK_TUNNEL_TOKEN: "rotated-tunnel-token" });
        assert.strictEqual(rotated.status, 0, rotated.output);
        assert.match(rotated.output, /handing the tunnel token to cloudflared on shop-staging-web-1/);
        assert.strictEqual(fs.readFileSync(tokenFile, "utf8"), "rotated-tunnel-token\n");
        assert.ok(!rotated.output.includes("rotated-tunnel-token") && !rotated.ssh.join("\n").includes("rotated-tunnel-token"), "never on a command line");
        deploy("token-restored", { FAKE_ACCESSORY_EXISTS: "1" });
    });

    it("a later deploy with the same accessory settings reboots nothing", () => {
        const run = deploy("same", { FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(run.status, 0, run.output);
        assert.deepStrictEqual(run.kamalRuns.map((r) => r.args), [`build push --version ${commit}`, `setup --version ${commit} --skip-push`, "registry logout --skip-local"]);
        assertNoSecret(run);
    });

    it("a changed Litestream file or credential reboots the accessory, once", async () => {
        const changed = await planFor("staging", { litestreamDatabases: JSON.stringify(["cache=off"]) });
        const [command] = resourcesOfType(changed, "command:local:Command").filter((c) => c.name.endsWith("-deploy-kamal"));
        const changedEnv = plainInputs(command).environment as Record<string, string>;
        const files = Object.fromEntries(Object.entries(changedEnv).filter(([k]) => k.startsWith("RAILS_STACK_FILE") || k === "RAILS_STACK_ACCESSORIES"));
        const reboot = "accessory reboot litestream";
        const reboots = (r: Run) => r.kamalRuns.map((k) => k.args).filter((a) => a.startsWith("accessory "));
        const run = deploy("changed-file", { ...files, FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(run.status, 0, run.output);
        assert.deepStrictEqual(reboots(run), [reboot]);
        const again = deploy("changed-file-again", { ...files, FAKE_ACCESSORY_EXISTS: "1" });
        assert.deepStrictEqual(reboots(again), []);
        const rotated = deploy("rotated", { ...files, FAKE_ACCESSORY_EXISTS: "1", LITESTREAM_SECRET_ACCESS_KEY: "rotated-secret" });
        assert.deepStrictEqual(reboots(rotated), [reboot]);
        assert.ok(!rotated.output.includes("rotated-secret"));
        deploy("restore", { FAKE_ACCESSORY_EXISTS: "1" });
    });

    it("an image built elsewhere is only pulled, with the pull credential (no push credential needed)", () => {
        // The version must be a commit of the checkout: the doctor reads the app as that commit has it.
        const run = deploy("prebuilt", { RAILS_STACK_BUILD: "false", RAILS_STACK_VERSION: commit, RAILS_STACK_REGISTRY_PUSH_PASSWORD: "", FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(run.status, 0, run.output);
        const pull = fingerprint(baseEnv.KAMAL_REGISTRY_PASSWORD);
        assert.deepStrictEqual(run.kamalRuns, [
            { args: `setup --version ${commit} --skip-push`, registry: pull, pushEnv: "" },
            { args: "registry logout --skip-local", registry: pull, pushEnv: "" },
        ]);
    });

    it("a failed push stops the deploy before any host is touched; a failed setup still logs the host out", () => {
        const failedPush = deploy("push-fails", { FAKE_KAMAL_BUILD_EXIT: "1", FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(failedPush.status, 1);
        assert.match(failedPush.output, /deploy: error: kamal build push failed \(its output: .+kamal\.log\)/);
        assert.deepStrictEqual(failedPush.ssh, [], "no SSH session");
        assert.deepStrictEqual(failedPush.kamalRuns.map((r) => r.args), [`build push --version ${commit}`]);
        const missing = deploy("push-credential-missing", { RAILS_STACK_REGISTRY_PUSH_PASSWORD: "" });
        assert.strictEqual(missing.status, 1);
        assert.match(missing.output, /deploy: error: RAILS_STACK_REGISTRY_PUSH_PASSWORD is not set: with buildImage true the step pushes with registryPushPassword/);
        assert.deepStrictEqual(missing.kamal, []);
        const failedSetup = deploy("setup-fails", { FAKE_KAMAL_EXIT: "4", FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(failedSetup.status, 4);
        assert.deepStrictEqual(failedSetup.kamalRuns.map((r) => r.args), [`build push --version ${commit}`, `setup --version ${commit} --skip-push`, "registry logout --skip-local"]);
    });

    it("a host that never answers fails within the bound, naming the host, and Kamal never reaches it", () => {
        const run = deploy("unreachable", { FAKE_UP_AFTER: "1000000", RAILS_STACK_WAIT_SECONDS: "2" });
        assert.strictEqual(run.status, 1);
        assert.match(run.output, /deploy: error: host shop-staging-web-1 did not answer over SSH within 2s/);
        assert.ok(run.seconds < 8, `took ${run.seconds}s`);
        assert.deepStrictEqual(run.kamalRuns.map((r) => r.args), [`build push --version ${commit}`], "the image pushed, nothing run on a host");
        assertNoSecret(run);
    });

    it("cloud-init errors on the host stop the deploy with the host's own report", () => {
        const run = deploy("cloud-init-error", { FAKE_CLOUD_INIT_STATUS: "1" });
        assert.strictEqual(run.status, 1);
        assert.match(run.output, /errors: Failed running scripts_user \(runcmd\)\nfailed mount_storage \(exit 1\)\n/);
        assert.match(run.output, /deploy: error: cloud-init on shop-staging-web-1 finished with errors \(exit 1\)/);
        assert.deepStrictEqual(run.kamalRuns.map((r) => r.args), [`build push --version ${commit}`], "the image pushed, nothing run on a host");
        const degraded = deploy("cloud-init-degraded", { FAKE_CLOUD_INIT_STATUS: "2", FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(degraded.status, 0, degraded.output);
        assert.match(degraded.output, /finished with recoverable errors; continuing/);
    });

    it("a failing Kamal fails the step with Kamal's exit code", () => {
        const run = deploy("kamal-fails", { FAKE_KAMAL_EXIT: "3", FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(run.status, 3);
        assert.match(run.output, /deploy: error: kamal setup failed with exit code 3/);
        assertNoSecret(run);
    });

    it("a held deploy lock prints the command that releases it", () => {
        const run = deploy("locked", { FAKE_KAMAL_LOCK: "1", FAKE_ACCESSORY_EXISTS: "1" });
        assert.strictEqual(run.status, 1);
        assert.ok(
            run.output.includes(`(cd ${path.join(tmp, "app")} && RAILS_STACK_KAMAL_DIR=${setDir()} ${path.join(tmp, "kamal")} lock release -c ${setDir()}/deploy.yml -d staging)`),
            run.output,
        );
    });

    it("bad input stops it before anything runs, each with a clear line", () => {
        const cases: [Record<string, string>, RegExp][] = [
            [{ RAILS_STACK_APP_DIR: "../no-such-app" }, /deploy: error: app directory \.\.\/no-such-app does not exist \(rails-stack:appDir, relative to .+\)/],
            [{ RAILS_STACK_VERSION: "", RAILS_STACK_VERSION_PROBLEM: "cannot read the app's commit in /x" }, /deploy: error: cannot read the app's commit in \/x\n/],
            [{ RAILS_STACK_VERSION: "v1.0.0" }, /deploy: error: appVersion v1\.0\.0 is not the commit checked out in .+ \(HEAD is [0-9a-f]{40}\)/],
            [{ RAILS_STACK_KAMAL: path.join(tmp, "no-kamal") }, /deploy: error: Kamal not found at .+no-kamal: add it to the app/],
            [{ RAILS_MASTER_KEY: "" }, /deploy: error: secret RAILS_MASTER_KEY is empty in the deploy step's environment/],
            [{ RAILS_STACK_APP_DIR: path.join(ROOT, "test", "fixtures", "apps", "seed-000"), RAILS_STACK_BUILD: "false" }, /deploy: error: the app in .+seed-000 is not ready for RAILS_ENV=staging/],
        ];
        for (const [overrides, message] of cases) {
            const run = deploy(`bad-${cases.findIndex((c) => c[0] === overrides)}`, overrides);
            assert.strictEqual(run.status, 1, JSON.stringify(overrides));
            assert.match(run.output, message);
            assert.deepStrictEqual(run.kamal, [], "Kamal did not run");
            assertNoSecret(run);
        }
    });

    it("the bench's overhead: each deploy's and the sum's time beyond Kamal's, over Kamal's", () => {
        const record = { recorded: "2026-12-01T00:00:00.000Z", deploys: [deployTiming("staging v1", "deployed shop v1 to h (a) with RAILS_ENV=staging in 24s (Kamal: 20s)\n")!, { name: "staging v2", totalSeconds: 11, kamalSeconds: 10 }] };
        assert.deepStrictEqual(overheadLines(record).slice(3), ["| staging v1 | 24 | 20 | 20% |", "| staging v2 | 11 | 10 | 10% |", "| all | 35 | 30 | 17% |"]);
        assert.strictEqual(deployTiming("failed", "deploy: error: kamal setup failed\n"), undefined);
    });

    it("the bench reads the rehearsal's parts as one record, dated by the newest", () => {
        const root = path.join(tmp, "records");
        assert.strictEqual(readDeployRecords(root), undefined);
        writeDeployRecord(root, "staging", [{ name: "staging v1", totalSeconds: 20, kamalSeconds: 15 }], new Date("2026-12-01T10:00:00Z"));
        writeDeployRecord(root, "review", [{ name: "pr-7 v1", totalSeconds: 12, kamalSeconds: 10 }], new Date("2026-12-01T11:00:00Z"));
        assert.deepStrictEqual(readDeployRecords(root), {
            recorded: "2026-12-01T11:00:00.000Z",
            deploys: [
                { name: "pr-7 v1", totalSeconds: 12, kamalSeconds: 10 },
                { name: "staging v1", totalSeconds: 20, kamalSeconds: 15 },
            ],
        });
    });

    it("passes shellcheck, as do the hook and restore scripts it installs", function () {
        if (!haveTool("shellcheck")) this.skip();
        execFileSync("shellcheck", [SCRIPT, ...["pre-deploy.sh", "db-backup.sh", "restore-databases.sh", "restore-in-container.sh"].map((script) => path.join(ROOT, "deploy", script))]);
    });
});
