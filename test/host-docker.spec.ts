// The host's Docker, for real (test/rehearsal/host.ts: Debian's dockerd in namespaces of its own):
// kamal-proxy's configuration on the storage volume, prepared as the bootstrap prepares it
// (cloud-init/files/proxy-config.sh) and used by the proxy exactly as Kamal 2.12 runs it; what a
// replacement host finds there; and image references by digest, which Kamal allows for Litestream
// but not for kamal-proxy. Needs what the deploy rehearsal needs (root, dockerd) and Kamal; skips
// without them unless REQUIRE_VALIDATORS=1.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { PROXY_CONFIG_HOST_PATH, STATIC_FILES_DIR } from "../cloud-init/user-data";
import { STORAGE_HOST_PATH } from "../lib/paths";
import { KAMAL_PROXY_IMAGE } from "../renderers/kamal";
import { LITESTREAM_IMAGE } from "../renderers/litestream";
import { kamalConfig, kamalSet } from "./kamal-config";
import { rehearsalUnavailable, RehearsalHost, startRehearsalHost } from "./rehearsal/host";
import { buildKamalProxy, buildLitestream, KAMAL_PROXY_CONFIG, KAMAL_PROXY_UID } from "./rehearsal/images";
import { kamalExecutable, planFor } from "./support";

/** kamal-proxy's commands as Kamal 2.12 itself renders them for the staging set (test/kamal-probe.rb). */
interface ProxyCommands {
    /** `docker run ... kamal-proxy run`, what `kamal proxy boot` runs on a host without the container. */
    readonly run: string;
    /** How `kamal proxy boot` reads the running proxy's version back. */
    readonly version: string;
}

/** Where autocert keeps a certificate: <cache>/<hash of the ACME directory>/<hostname> (kamal-proxy service.go, x/crypto DirCache). */
const CERTIFICATE = "certs/5a1f2c/shop-staging.example.com";

describe("the host's Docker, for real: kamal-proxy's certificates on the volume, images by digest", function () {
    this.timeout(240_000);
    let proxy: ProxyCommands;
    let hostEnv: string;
    let first: RehearsalHost | undefined;
    let second: RehearsalHost | undefined;

    before(async function () {
        const why = rehearsalUnavailable();
        const kamal = kamalExecutable();
        if (why || !kamal) {
            if (process.env.REQUIRE_VALIDATORS === "1") throw new Error(`the host's Docker cannot run here: ${why ?? "no Kamal (RAILS_STACK_KAMAL)"}`);
            this.skip();
        }
        const plan = await planFor("staging");
        const userData = YAML.parse(plan.artifacts["cloud-init/shop-staging-web-1.yaml"]) as { write_files: { path: string; content: string }[] };
        hostEnv = userData.write_files.find((f) => f.path === "/etc/rails-host/host.env")!.content;
        first = await startRehearsalHost({ s3Credentials: [], buckets: [] });
        const loaded = kamalConfig(kamal!, plan, kamalSet(plan), path.join(first.dir, "kamal-set"));
        assert.strictEqual(loaded.status, 0, loaded.output);
        proxy = loaded.probe!.proxy as ProxyCommands;
    });
    // The second host runs on the first one's files: it stops first.
    after(async () => {
        await second?.stop();
        await first?.stop();
    });

    /** A shell command line against the host's daemon, as Kamal's SSH session would run it there. */
    function sh(host: RehearsalHost, command: string): { status: number | null; output: string } {
        const cwd = path.join(host.dir, "deploy-session");
        fs.mkdirSync(cwd, { recursive: true });
        const run = spawnSync("sh", ["-c", command], { cwd, encoding: "utf8", env: { PATH: process.env.PATH, DOCKER_HOST: `unix://${host.dir}/docker.sock` } });
        return { status: run.status, output: `${run.stdout}${run.stderr}` };
    }

    /** The bootstrap's step: the product's script, against a stand-in root whose /mnt/storage is the host's volume. */
    function prepareProxyConfig(host: RehearsalHost): void {
        const root = path.join(host.dir, "host-root");
        if (!fs.existsSync(root)) {
            fs.mkdirSync(path.join(root, "etc", "rails-host"), { recursive: true });
            fs.writeFileSync(path.join(root, "etc", "rails-host", "host.env"), hostEnv);
            fs.mkdirSync(path.join(root, path.dirname(STORAGE_HOST_PATH)), { recursive: true });
            fs.symlinkSync(host.storage, path.join(root, STORAGE_HOST_PATH));
        }
        const run = spawnSync("bash", [path.join(STATIC_FILES_DIR, "proxy-config.sh")], {
            encoding: "utf8",
            env: { PATH: process.env.PATH, RAILS_HOST_ROOT: root, DOCKER_HOST: `unix://${host.dir}/docker.sock` },
        });
        assert.strictEqual(run.status, 0, `${run.stdout}${run.stderr}`);
    }

    /** `kamal proxy boot` on a host without the proxy container: the network, then Kamal's own `docker run`. */
    function bootProxy(host: RehearsalHost): void {
        host.dockerStatus(["network", "create", "kamal"]);
        const run = sh(host, proxy.run);
        assert.strictEqual(run.status, 0, `${proxy.run}\n${run.output}`);
    }

    const onVolume = (host: RehearsalHost, file = ""): string => path.join(host.storage, path.relative(STORAGE_HOST_PATH, PROXY_CONFIG_HOST_PATH), file);

    it("Docker fills the bind-backed volume from the image on first use, owner included: kamal-proxy, neither root nor the app, keeps its certificates on the storage volume", () => {
        const host = first!;
        buildKamalProxy(host);
        prepareProxyConfig(host);
        assert.strictEqual(fs.statSync(onVolume(host)).uid, 0, "the bootstrap leaves the directory root's and empty");
        assert.deepStrictEqual(fs.readdirSync(onVolume(host)), []);
        bootProxy(host);
        assert.strictEqual(host.docker(["exec", "kamal-proxy", "id", "-u"]).trim(), String(KAMAL_PROXY_UID));
        const dir = fs.statSync(onVolume(host));
        assert.deepStrictEqual([dir.uid, dir.gid, dir.mode & 0o777], [KAMAL_PROXY_UID, KAMAL_PROXY_UID, 0o755], "copied from the image's directory");
        // What kamal-proxy writes there: autocert's cache (directories 0700, files 0600) and its state.
        const write = `umask 077 && mkdir -p ${KAMAL_PROXY_CONFIG}/${path.dirname(CERTIFICATE)} && echo certificate >${KAMAL_PROXY_CONFIG}/${CERTIFICATE} && echo '[]' >${KAMAL_PROXY_CONFIG}/kamal-proxy.state`;
        assert.strictEqual(host.dockerStatus(["exec", "kamal-proxy", "sh", "-c", write]).status, 0);
        const certificate = fs.statSync(onVolume(host, CERTIFICATE));
        assert.deepStrictEqual([certificate.uid, certificate.mode & 0o777], [KAMAL_PROXY_UID, 0o600]);
        // The app's containers see the volume at /rails/storage, as uid 1000: not the proxy's keys.
        const app = host.dockerStatus(["run", "--rm", "--pull", "never", "--user", "1000:1000", "--entrypoint", "cat", "--volume", `${STORAGE_HOST_PATH}:/rails/storage`, KAMAL_PROXY_IMAGE, `/rails/storage/kamal-proxy/${CERTIFICATE}`]);
        assert.notStrictEqual(app.status, 0);
        assert.match(app.output, /Permission denied/);
        // Run again on the same host (by an operator): the same volume, nothing lost but the routes.
        prepareProxyConfig(host);
        assert.strictEqual(fs.readFileSync(onVolume(host, CERTIFICATE), "utf8"), "certificate\n");
    });

    it("a replacement host on the same volume: the certificate is there for its proxy, the old host's routes are not", async () => {
        first!.docker(["exec", "kamal-proxy", "sh", "-c", `echo '[{"name":"shop-web-staging"}]' >${KAMAL_PROXY_CONFIG}/kamal-proxy.state`]);
        // A clean shutdown, then a new machine with the old volume and nothing else.
        first!.docker(["stop", "kamal-proxy"]);
        await first!.halt();
        second = await startRehearsalHost({ s3Credentials: [], buckets: [], takeOver: first });
        buildKamalProxy(second);
        prepareProxyConfig(second);
        assert.ok(!fs.existsSync(onVolume(second, "kamal-proxy.state")), "the old routes are gone before the proxy starts");
        bootProxy(second);
        assert.strictEqual(second.docker(["exec", "kamal-proxy", "cat", `${KAMAL_PROXY_CONFIG}/${CERTIFICATE}`]), "certificate\n");
        assert.strictEqual(second.dockerStatus(["exec", "kamal-proxy", "sh", "-c", `echo '[]' >${KAMAL_PROXY_CONFIG}/kamal-proxy.state`]).status, 0, "still its own to write");
    });

    it("Kamal 2.12 cannot run kamal-proxy by digest: the version its deploys read back is then the digest, which its check refuses", () => {
        const host = second!;
        // A digest Docker knows from a registry: the stand-in, pushed to the host's own.
        const repository = `127.0.0.1:5000/${KAMAL_PROXY_IMAGE.split(":")[0]}`;
        host.docker(["tag", KAMAL_PROXY_IMAGE, `${repository}:v0.9.2`]);
        const digest = /digest: (sha256:[0-9a-f]{64})/.exec(host.docker(["push", `${repository}:v0.9.2`]))![1];
        // What `kamal proxy boot` reads back (commands/proxy.rb `version`), then compares as Kamal does
        // (utils.rb older_version?: Gem::Version.new(version.delete_prefix("v"))).
        const readBack = (image: string): { version: string; check: ReturnType<typeof spawnSync> } => {
            host.docker(["rm", "--force", "kamal-proxy"]);
            host.docker(["run", "--detach", "--name", "kamal-proxy", image]);
            const version = sh(host, proxy.version).output.trim();
            const check = spawnSync("ruby", ["-e", 'exit(Gem::Version.new(ARGV[0].delete_prefix("v")) < Gem::Version.new("0.9.2") ? 1 : 0)', version], { encoding: "utf8" });
            return { version, check };
        };
        const byTag = readBack(`${repository}:v0.9.2`);
        assert.deepStrictEqual([byTag.version, byTag.check.status], ["v0.9.2", 0]);
        const byDigest = readBack(`${repository}:v0.9.2@${digest}`);
        assert.strictEqual(byDigest.version, digest.slice("sha256:".length));
        assert.notStrictEqual(byDigest.check.status, 0);
        assert.match(String(byDigest.check.stderr), /Malformed version number string/);
    });

    it("Docker runs an image named by tag and digest from its own store, by the digest alone, and asks no registry", async () => {
        const host = second!;
        await buildLitestream(host, "");
        const run = (image: string) => host.dockerStatus(["run", "--rm", "--network", "none", image, "version"]);
        assert.strictEqual(run(LITESTREAM_IMAGE).status, 0, run(LITESTREAM_IMAGE).output);
        const digest = LITESTREAM_IMAGE.split("@")[1];
        assert.strictEqual(run(`litestream/litestream:0.0.1@${digest}`).status, 0, "the tag beside a digest is not looked at");
        // Another digest is not there, and the host reaches no registry that could have it.
        const other = run(LITESTREAM_IMAGE.replace(/.$/, (c) => (c === "0" ? "1" : "0")));
        assert.notStrictEqual(other.status, 0);
        assert.match(other.output, /Unable to find image/);
    });
});
