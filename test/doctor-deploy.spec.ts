// The doctor checks what will run: with buildImage: false the app at the appVersion commit and the
// image's own config from a real registry (Debian's docker-registry on loopback, images pushed through
// its HTTP API), and the Kamal the deploy step runs against the set's floor; the deploy script
// refuses both before any SSH session.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../deploy/doctor-cli";
import { KAMAL_MINIMUM } from "../deploy/doctor/kamal";
import { ImageSettings, pushImage, startRegistry, TestRegistry } from "./registry";
import { haveTool, plainInputs, planFor, resourcesOfType, ROOT } from "./support";

const APPS = path.join(__dirname, "fixtures", "apps");
const KAMAL_212 = path.join(APPS, "healthy", "bin", "kamal");

/** Rails 8's image as Kamal would label it (service=shop), and seed 000's, which bakes RAILS_ENV in. */
const HEALTHY_IMAGE: ImageSettings = {
    Env: ["PATH=/usr/local/bundle/bin:/usr/local/bin:/usr/bin:/bin", "BUNDLE_DEPLOYMENT=1", "BUNDLE_PATH=/usr/local/bundle", "BUNDLE_WITHOUT=development"],
    Entrypoint: ["/rails/bin/docker-entrypoint"],
    Cmd: ["./bin/thrust", "./bin/rails", "server"],
    User: "1000:1000",
    WorkingDir: "/rails",
    Labels: { service: "shop" },
};
const SEED_000_IMAGE: ImageSettings = { ...HEALTHY_IMAGE, Env: ["RAILS_ENV=production", ...HEALTHY_IMAGE.Env!] };

describe("doctor: what will run (buildImage: false, a real registry, Kamal's floor)", function () {
    let tmp: string;
    let registry: TestRegistry | undefined;
    let app: string;
    let deployYml: string;
    let litestreamYml: string;
    let image: (tag: string) => string;

    before(async function () {
        if (!haveTool("docker-registry", ["--version"]) || !haveTool("git")) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-deploy-"));
        registry = await startRegistry(tmp);
        const { server } = registry;
        image = (tag) => `${server}/acme/shop:${tag}`;
        await pushImage(server, "acme/shop", "v1", HEALTHY_IMAGE, ["amd64", "arm64"]);
        await pushImage(server, "acme/shop", "v2", { ...HEALTHY_IMAGE, Labels: {} });
        await pushImage(server, "acme/shop", "v3", SEED_000_IMAGE);
        await pushImage(server, "acme/shop", "v5", HEALTHY_IMAGE, ["amd64"]);

        // The app: v1 healthy, v2 the same, v3 seed 000's files; the checkout stays at v2, with a
        // change in the working tree that no commit has.
        app = path.join(tmp, "app");
        const git = (...args: string[]) => execFileSync("git", ["-C", app, ...args], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" } });
        fs.cpSync(path.join(APPS, "healthy"), app, { recursive: true });
        git("init", "-q");
        git("add", ".");
        git("commit", "-qm", "v1");
        git("tag", "v1");
        fs.writeFileSync(path.join(app, "README.md"), "v2\n");
        git("add", ".");
        git("commit", "-qm", "v2");
        git("tag", "v2");
        git("tag", "v4");
        git("tag", "v5");
        git("checkout", "-q", "-b", "seed", "v1");
        for (const entry of fs.readdirSync(app)) if (entry !== ".git") fs.rmSync(path.join(app, entry), { recursive: true });
        fs.cpSync(path.join(APPS, "seed-000"), app, { recursive: true });
        git("add", "-A");
        git("commit", "-qm", "seed 000");
        git("tag", "v3");
        git("checkout", "-q", "v2");
        fs.rmSync(path.join(app, "config", "storage.yml"));

        const plan = await planFor("staging", { registryServer: server, buildImage: "false", appVersion: "v1" });
        deployYml = path.join(tmp, "deploy.yml");
        litestreamYml = path.join(tmp, "litestream.yml");
        fs.writeFileSync(deployYml, plan.artifacts["kamal/deploy.yml"]);
        fs.writeFileSync(litestreamYml, plan.artifacts["kamal/litestream.yml"]);
    });
    after(() => {
        registry?.stop();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    async function doctor(version: string, kamal = KAMAL_212, imageDigest?: string): Promise<{ code: number; stdout: string; stderr: string }> {
        const out = { stdout: "", stderr: "" };
        const argv = ["--app-dir", app, "--rails-env", "staging", "--litestream", litestreamYml, "--kamal-config", deployYml, "--version", version, "--build", "false", "--kamal", kamal];
        if (imageDigest !== undefined) argv.push("--image-digest", imageDigest);
        const code = await main(argv, { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text) });
        return { code, ...out };
    }

    it("passes v1 as its commit and its image have it, whatever the checkout (at v2, a file deleted) holds", async () => {
        assert.deepStrictEqual(await doctor("v1"), { code: 0, stdout: `doctor: ${app} at v1 is ready for RAILS_ENV=staging\n`, stderr: "" });
    });

    it("refuses v3, whose image bakes RAILS_ENV=production in and whose commit is seed 000's app, one line each", async () => {
        const advice =
            "one image serves every stack and Kamal sets RAILS_ENV=staging at run time: remove it from ENV and set it inline on the build steps that need it, " +
            "e.g. RUN RAILS_ENV=production SECRET_KEY_BASE_DUMMY=1 ./bin/rails assets:precompile";
        const lines = [
            `${image("v3")}: ENV RAILS_ENV=production bakes one environment into the image, but ${advice}`,
            "config/database.yml:25: staging has no queue: database, which Solid Queue connects to; solid_queue: is there instead: rename it to queue: (and solid_queue in any connects_to) with database: storage/staging_queue.sqlite3",
            "config/database.yml:25: staging has no cache: database, which Solid Cache connects to; solid_cache: is there instead: rename it to cache: (and solid_cache in any connects_to) with database: storage/staging_cache.sqlite3",
            "config/database.yml:25: staging has no cable: database, which Solid Cable connects to; solid_cable: is there instead: rename it to cable: (and solid_cable in any connects_to) with database: storage/staging_cable.sqlite3",
            "config/database.yml:27: staging.primary database: storage/databases/staging.sqlite3 (/rails/storage/databases/staging.sqlite3 in the container) is not the file Litestream replicates, /rails/storage/staging.sqlite3: use database: storage/staging.sqlite3",
            'config/environments/staging.rb: missing; Rails cannot boot RAILS_ENV=staging without it: add it, e.g. one line require_relative "production" to run staging like production',
            "config/storage.yml: has no r2: service, where the stack keeps attachments (R2): add the r2: entry the stack renders (npm run plan writes it to out/<stack>/storage/active-storage.yml) and set config.active_storage.service = :r2",
        ];
        const result = await doctor("v3");
        assert.deepStrictEqual(result, { code: 1, stdout: [...lines, `doctor: 7 problems in ${app} at v3 for RAILS_ENV=staging`].map((l) => `${l}\n`).join(""), stderr: "" });
    });

    it("refuses an image without Kamal's service label", async () => {
        const result = await doctor("v2");
        assert.strictEqual(result.code, 1);
        assert.strictEqual(result.stdout.split("\n")[0], `${image("v2")}: has no service label; Kamal deploys only an image labelled service=shop ("missing the 'service' label"): build it with LABEL service="shop" (or docker build --label service=shop)`);
    });

    it("refuses a version whose image is not in the registry, and one without an arm64 image", async () => {
        const missing = await doctor("v4");
        assert.strictEqual(missing.code, 1);
        assert.match(missing.stdout, new RegExp(`^${image("v4").replace(/[.]/g, "\\.")}: is not in the registry \\(.+\\): push it first; buildImage: false deploys an image that already exists\n`));
        const amd64 = await doctor("v5");
        assert.strictEqual(amd64.code, 1);
        assert.match(amd64.stdout, /: is a amd64 image; the hosts are ARM64 \(Hetzner cax\): build it for linux\/arm64\n/);
    });

    it("with appImageDigest, passes the reviewed image and refuses a tag moved since, or a digest the registry no longer has", async () => {
        execFileSync("git", ["-C", app, "tag", "v6", "v2"]);
        // Reviewed: a two-platform index, as buildx pushes it; then the tag moves to a rebuild.
        const reviewed = await pushImage(registry!.server, "acme/shop", "v6", HEALTHY_IMAGE, ["amd64", "arm64"]);
        assert.deepStrictEqual(await doctor("v6", KAMAL_212, reviewed), { code: 0, stdout: `doctor: ${app} at v6 is ready for RAILS_ENV=staging\n`, stderr: "" });
        await pushImage(registry!.server, "acme/shop", "v6", { ...HEALTHY_IMAGE, Env: [...HEALTHY_IMAGE.Env!, "REBUILT=1"] }, ["amd64", "arm64"]);
        const moved = await doctor("v6", KAMAL_212, reviewed);
        assert.strictEqual(moved.code, 1);
        assert.match(
            moved.stdout.split("\n")[0],
            new RegExp(`^${image("v6").replace(/[.]/g, "\\.")}: names another image than appImageDigest ${reviewed} \\(linux/arm64 config sha256:[0-9a-f]{64}, reviewed sha256:[0-9a-f]{64}\\): the tag moved since review; refusing it before any host is touched$`),
        );
        const gone = `sha256:${"0".repeat(64)}`;
        const missing = await doctor("v6", KAMAL_212, gone);
        assert.strictEqual(missing.code, 1);
        assert.ok(missing.stdout.startsWith(`${image("v6")}: appImageDigest ${gone} is not in ${registry!.server}/acme/shop: the reviewed image is gone; push it again or review a new digest\n`), missing.stdout);
        const malformed = await doctor("v6", KAMAL_212, "sha256:abc");
        assert.deepStrictEqual([malformed.code, malformed.stderr.split("\n")[0]], [2, 'doctor: --image-digest: expected sha256:<64 hex> with --build false, got "sha256:abc"']);
    });

    it("refuses a version that is not a commit of the checkout, saying so", async () => {
        const result = await doctor("v9");
        assert.deepStrictEqual(result, {
            code: 2,
            stdout: "",
            stderr: `doctor: appVersion v9 is not a commit of the checkout ${app}: fetch it (git fetch --tags), or set appVersion to a commit or tag that exists there\n`,
        });
    });

    it(`refuses a Kamal older than ${KAMAL_MINIMUM}, naming the minimum and the fix`, async () => {
        const old = path.join(tmp, "kamal-2.8.1");
        fs.writeFileSync(old, '#!/bin/sh\n# Answers `version` as Kamal 2.8.1 would (lib/kamal/cli/main.rb); refuses anything else.\n[ "$1" = version ] && { echo 2.8.1; exit 0; }\nexit 64\n', { mode: 0o755 });
        const result = await doctor("v1", old);
        assert.strictEqual(result.code, 1);
        assert.strictEqual(
            result.stdout.split("\n")[0],
            `${old}: is Kamal 2.8.1, older than 2.10.0, which the rendered set uses proxy.run (Kamal 2.10) and secrets_path (Kamal 2.9): run bundle update kamal in the app (or point RAILS_STACK_KAMAL at Kamal 2.10.0 or later)`,
        );
    });

    describe("the deploy step", () => {
        /** Runs deploy/kamal-deploy.sh as the Command would, with an `ssh` that records every session. */
        async function deployStep(version: string, kamal: string): Promise<{ status: number | null; output: string; ssh: string }> {
            const plan = await planFor("staging", { registryServer: registry!.server, buildImage: "false", appVersion: version });
            const [command] = resourcesOfType(plan, "command:local:Command").filter((c) => c.name.endsWith("-deploy-kamal"));
            const bin = path.join(tmp, "bin");
            const sshLog = path.join(tmp, `ssh-${version}.log`);
            fs.mkdirSync(bin, { recursive: true });
            fs.writeFileSync(path.join(bin, "ssh"), `#!/bin/sh\necho "$@" >>"${sshLog}"\nexit 255\n`, { mode: 0o755 });
            const env = {
                ...(plainInputs(command).environment as Record<string, string>),
                PATH: `${bin}:${process.env.PATH}`,
                HOME: tmp,
                RAILS_STACK_APP_DIR: app,
                RAILS_STACK_KAMAL: kamal,
                RAILS_STACK_STATE_DIR: path.join(tmp, "state"),
            };
            const run = spawnSync("bash", [path.join(ROOT, "deploy", "kamal-deploy.sh")], { cwd: ROOT, env, encoding: "utf8" });
            return { status: run.status, output: `${run.stdout}${run.stderr}`, ssh: fs.existsSync(sshLog) ? fs.readFileSync(sshLog, "utf8") : "" };
        }

        it("refuses the seed-000 image at appVersion before any SSH session", async () => {
            const run = await deployStep("v3", KAMAL_212);
            assert.notStrictEqual(run.status, 0);
            assert.ok(run.output.includes(`${image("v3")}: ENV RAILS_ENV=production bakes one environment into the image`), run.output);
            assert.match(run.output, /deploy: error: the app in .* is not ready for RAILS_ENV=staging/);
            assert.strictEqual(run.ssh, "", "no SSH session was opened");
        });

        it(`refuses a Kamal older than ${KAMAL_MINIMUM} before any SSH session, naming the minimum`, async () => {
            const old = path.join(tmp, "kamal-2.9.0");
            fs.writeFileSync(old, '#!/bin/sh\n[ "$1" = version ] && { echo 2.9.0; exit 0; }\nexit 64\n', { mode: 0o755 });
            const run = await deployStep("v1", old);
            assert.notStrictEqual(run.status, 0);
            assert.ok(run.output.includes(`${old}: is Kamal 2.9.0, older than ${KAMAL_MINIMUM}`), run.output);
            assert.strictEqual(run.ssh, "", "no SSH session was opened");
        });
    });
});
