// Deploys driven by the app: deploy-app.yml's request check, and the staging and production jobs it
// calls, their real steps from a fresh clone against the pulumi stand-in: the app commit becomes
// appVersion, the digest appImageDigest (production only, required with a commit), and nothing
// untrusted reaches a shell.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { commitStagingSecrets, Delivery, deployedStack } from "./delivery-support";
import { haveTool, ROOT } from "./support";
import { condition, loadWorkflow, STAND_INS } from "./workflow-runner";

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("deploys driven by the app", function () {
    before(function () {
        if (!haveTool("git")) this.skip();
    });
    let d: Delivery | undefined;
    afterEach(() => d?.dispose());
    const fresh = (): Delivery => commitStagingSecrets(new Delivery({ org: "acme", upResources: 26, stacks: { staging: deployedStack(26), production: deployedStack(26) } }));
    const lastConfig = (stack: string): Record<string, unknown> => d!.stack(stack)!.updates.at(-1)!.config;

    it("takes the request from workflow_dispatch or repository_dispatch, and refuses anything but a commit, a digest and a boolean", () => {
        d = fresh();
        const dispatch = d.run("deploy-app.yml", "request", { github: { event_name: "workflow_dispatch", event: {} }, inputs: { commit: COMMIT, digest: DIGEST, production: true } });
        assert.strictEqual(dispatch.status, 0, dispatch.output);
        assert.deepStrictEqual(dispatch.outputs, { commit: COMMIT, digest: DIGEST, production: "true" });
        const payload = d.run("deploy-app.yml", "request", { github: { event_name: "repository_dispatch", event: { client_payload: { commit: COMMIT } } } });
        assert.strictEqual(payload.status, 0, payload.output);
        assert.deepStrictEqual(payload.outputs, { commit: COMMIT, digest: "", production: "false" });

        const marker = path.join(os.tmpdir(), `pwned-${process.pid}`);
        const refused: [Record<string, unknown>, RegExp][] = [
            [{ commit: `$(touch ${marker})` }, /::error::commit .* is not a full commit id/],
            [{ commit: COMMIT.slice(0, 7) }, /is not a full commit id/],
            [{ commit: COMMIT, digest: "sha256:abc\nproduction=true" }, /::error::digest .* is not an image digest/],
            [{ commit: COMMIT, production: "yes" }, /::error::production 'yes' is not a boolean/],
            [{ commit: COMMIT, production: true }, /::error::production deploys a commit only with its image digest: pass digest=sha256:<64 hex>/],
        ];
        for (const [client_payload, message] of refused) {
            const run = d.run("deploy-app.yml", "request", { github: { event_name: "repository_dispatch", event: { client_payload } } });
            assert.notStrictEqual(run.status, 0, JSON.stringify(client_payload));
            assert.match(run.output, message);
            assert.deepStrictEqual(run.outputs, { commit: "", digest: "", production: "" }, "nothing reaches the deploy jobs");
        }
        assert.ok(!fs.existsSync(marker), "the payload never ran as a command");
    });

    it("staging deploys the requested commit as appVersion, built from that commit, joined as staging's CI", () => {
        d = fresh();
        const up = d.run("staging.yml", "up", { github: { event_name: "workflow_call" }, inputs: { commit: COMMIT } });
        assert.strictEqual(up.status, 0, up.output);
        assert.ok(d.pulumiCalls().includes(`pulumi up --stack staging --non-interactive --policy-pack policy --config rails-stack:appVersion=${COMMIT} --yes --skip-preview`));
        assert.strictEqual(lastConfig("staging")["rails-stack:appVersion"], COMMIT);
        assert.ok(!("rails-stack:appImageDigest" in lastConfig("staging")));
        const checkout = up.actions.find((a) => a.uses.startsWith("actions/checkout") && a.with.repository === "acme/shop");
        assert.deepStrictEqual([checkout?.with.ref, checkout?.with.token, checkout?.with["persist-credentials"]], [COMMIT, "value-of-STAGING_APP_TOKEN", "false"]);
        assert.deepStrictEqual(up.actions.filter((a) => a.uses.startsWith("tailscale/")).map((a) => a.with.tags), ["tag:ci-staging"]);

        // A push to main passes no commit: the head of the app's default branch, as before.
        const push = d.run("staging.yml", "up", { github: { event_name: "push" } });
        assert.strictEqual(push.status, 0, push.output);
        assert.ok(d.pulumiCalls().includes("pulumi up --stack staging --non-interactive --policy-pack policy --yes --skip-preview"));
    });

    it("production previews, then deploys the commit with its digest, or the pin in Pulumi.production.yaml", () => {
        d = fresh();
        const context = { github: { event_name: "workflow_call" }, inputs: { commit: COMMIT, digest: DIGEST } };
        const preview = d.run("production.yml", "preview", context);
        assert.strictEqual(preview.status, 0, preview.output);
        assert.match(preview.output, /--- summary\n## What the update would change in production\n```\nPreviewing update \(production\)/);
        const up = d.run("production.yml", "up", context);
        assert.strictEqual(up.status, 0, up.output);
        assert.deepStrictEqual([lastConfig("production")["rails-stack:appVersion"], lastConfig("production")["rails-stack:appImageDigest"]], [COMMIT, DIGEST]);
        assert.deepStrictEqual(up.actions.filter((a) => a.uses.startsWith("tailscale/")).map((a) => a.with.tags), ["tag:ci-production"]);

        // A commit without its digest would meet the file's pin, another image's: refused before pulumi runs.
        const updates = d.stack("production")!.updates.length;
        const noDigest = d.run("production.yml", "up", { github: { event_name: "workflow_dispatch" }, inputs: { commit: COMMIT, digest: "" } });
        assert.notStrictEqual(noDigest.status, 0, noDigest.output);
        assert.match(noDigest.output, /pulumi-stack: production deploys commit 0123456789abcdef0123456789abcdef01234567 only with its image digest/);
        assert.strictEqual(d.stack("production")!.updates.length, updates, "no update ran");
        const pinned = d.run("production.yml", "up", { github: { event_name: "workflow_dispatch" }, inputs: { commit: "", digest: "" } });
        assert.strictEqual(pinned.status, 0, pinned.output);
        assert.deepStrictEqual(
            [lastConfig("production")["rails-stack:appVersion"], lastConfig("production")["rails-stack:appImageDigest"]],
            ["3f9c2a1d7be04c5e8a6b1d2c4e5f60718293a4b5", "sha256:9b2d6f0c1e4a7385b6c2d9e0f1a3b5c7d8e9f0a1b2c3d4e5f60718293a4b5c6d"],
            "Pulumi.production.yaml's pin",
        );
    });

    it("production's jobs run on main only, whatever triggered them", () => {
        const production = loadWorkflow("production.yml");
        for (const job of Object.values(production.jobs)) {
            assert.strictEqual(condition(job.if, { github: { ref: "refs/heads/main" } }), true);
            for (const ref of ["refs/heads/feature", "refs/pull/7/merge", "refs/tags/main"]) assert.strictEqual(condition(job.if, { github: { ref } }), false, ref);
        }
    });

    it("pulumi-stack.sh refuses a commit or digest that is not one, before pulumi runs", () => {
        const log = path.join(os.tmpdir(), `pulumi-stack-${process.pid}.log`);
        fs.writeFileSync(log, "");
        const script = (env: Record<string, string>) =>
            spawnSync("bash", [path.join(ROOT, ".github", "scripts", "pulumi-stack.sh"), "up", "production"], {
                cwd: ROOT,
                encoding: "utf8",
                env: { PATH: `${STAND_INS}:${process.env.PATH}`, PULUMI_STANDIN_LOG: log, ...env },
            });
        const cases: [Record<string, string>, string][] = [
            [{ APP_COMMIT: "main; rm -rf /" }, "pulumi-stack: APP_COMMIT 'main; rm -rf /' is not a full commit id; allowed: 40 lowercase hex characters"],
            [{ APP_COMMIT: COMMIT.toUpperCase() }, `pulumi-stack: APP_COMMIT '${COMMIT.toUpperCase()}' is not a full commit id; allowed: 40 lowercase hex characters`],
            [{ APP_DIGEST: "sha256:abc" }, "pulumi-stack: APP_DIGEST 'sha256:abc' is not an image digest; allowed: sha256: then 64 lowercase hex characters"],
        ];
        for (const [env, message] of cases) {
            const run = script(env);
            assert.strictEqual(run.status, 2, JSON.stringify(env));
            assert.strictEqual(run.stderr, `${message}\n`);
        }
        assert.strictEqual(fs.readFileSync(log, "utf8"), "", "pulumi never ran");
        fs.rmSync(log);
    });
});
