// The pulumi and gh stand-ins enforce what the real tools enforce, for what the delivery scripts
// rely on: the cases below are pulumi/pulumi v3.259.0's own config validation tests
// (pkg/workspace/config_project_test.go) and the failure modes of its CLI and of cli/cli, each
// with the real message. A stand-in that accepted anything would fail here.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { renderPulumiYaml } from "../plan/docs";
import { urnGlob, validateStackConfig } from "./stand-ins/pulumi";
import { haveTool } from "./support";
import { STAND_INS } from "./workflow-runner";

const project = (config: Record<string, unknown>) => ({ name: "test", config: config as Parameters<typeof validateStackConfig>[1]["config"] });

describe("pulumi stand-in: stack config validated like pulumi/pulumi v3.259.0", () => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>, string | undefined][] = [
        ["one missing value", { values: { type: "array", items: { type: "string" } } }, {}, "Stack 'dev' is missing configuration value 'values'"],
        ["two missing values", { values: { type: "array", items: { type: "string" } }, another: { type: "string" } }, {}, "Stack 'dev' is missing configuration values 'another' and 'values'"],
        ["three missing values", { hello: { type: "integer" }, values: { type: "array", items: { type: "string" } }, world: { type: "string" } }, {}, "Stack 'dev' is missing configuration values 'hello', 'values' and 'world'"],
        ["a string where an array is declared", { values: { type: "array", items: { type: "string" }, default: ["value"] } }, { "test:values": "someValue" }, "Stack 'dev' with configuration key 'values' must be of type 'array<string>'"],
        ["an integer", { importantNumber: { type: "integer" } }, { "test:importantNumber": 20 }, undefined],
        ["not an integer", { importantNumber: { type: "integer" } }, { "test:importantNumber": "hello" }, "Stack 'dev' with configuration key 'importantNumber' must be of type 'integer'"],
        ["a secret in plain text", { importantNumber: { type: "integer", secret: true } }, { "test:importantNumber": 20 }, "Stack 'dev' with configuration key 'importantNumber' must be encrypted as it's secret"],
        ["a secret, encrypted", { importantNumber: { type: "integer", secret: true } }, { "test:importantNumber": { secure: `v1:${Buffer.from("20").toString("base64")}` } }, undefined],
        // mergeConfig applies the default as a plain value, then validates it: a declared secret with a default fails unset.
        ["a secret left to its default", { apiKey: { type: "string", default: "", secret: true } }, {}, "Stack 'dev' with configuration key 'apiKey' must be encrypted as it's secret"],
        // Only declared keys are validated: a key the project does not declare passes.
        ["an undeclared key", { app: { type: "string" } }, { "test:app": "shop", "test:undeclared": "x" }, undefined],
        ["another namespace's key is not required", { "aws:region": { value: "us-east-1" } }, {}, undefined],
    ];
    for (const [name, declared, stack, expected] of cases) {
        it(name, () => assert.strictEqual(validateStackConfig("dev", project(declared), stack), expected));
    }

    it("the generated Pulumi.yaml declares no secret with a default, which the CLI would refuse on every stack leaving it unset", () => {
        const config = (YAML.parse(renderPulumiYaml()) as { config: Record<string, { secret?: boolean; default?: unknown }> }).config;
        assert.deepStrictEqual(Object.entries(config).filter(([, spec]) => spec.secret && spec.default !== undefined).map(([k]) => k), []);
        assert.ok(Object.values(config).some((spec) => spec.secret), "required secrets stay declared");
    });

    it("glob URNs as pkg/resource/deploy/deployment.go: '*' stays within a segment, '**' does not", () => {
        const urn = "urn:pulumi:staging::rails-stack::rails-stack:deploy:Deploy$command:local:Command::shop-staging-deploy-kamal";
        assert.ok(urnGlob("**command:local:Command::**").test(urn));
        assert.ok(!urnGlob("*command:local:Command::*").test(urn));
        assert.ok(urnGlob("urn:pulumi:staging::rails-stack::**::shop-staging-deploy-kamal").test(urn));
    });
});

describe("pulumi and gh stand-ins: the real tools' failure modes", function () {
    let tmp: string;
    let env: Record<string, string>;
    before(function () {
        if (!haveTool("git") || !haveTool("jq")) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stand-ins-"));
        fs.writeFileSync(path.join(tmp, "Pulumi.yaml"), "name: test\nruntime: nodejs\nconfig:\n  app:\n    type: string\n");
        fs.writeFileSync(path.join(tmp, "service.json"), JSON.stringify({ org: "acme", stacks: { "pr-1": { resources: 3, updates: [] }, "pr-2": { resources: 0, updates: [] }, "pr-3": { resources: 0, updates: [] } } }));
        fs.writeFileSync(path.join(tmp, "repo.json"), JSON.stringify({ repo: "acme/rails-stack", labels: ["bug"], issues: [{ number: 3, title: "t", body: "", state: "CLOSED", labels: [], comments: [] }], pulls: { "1": "OPEN" } }));
        spawnSync("git", ["init", "--quiet", tmp]);
        env = { PATH: `${STAND_INS}:${process.env.PATH}`, PULUMI_STANDIN_SERVICE: path.join(tmp, "service.json"), GH_STANDIN_REPO: path.join(tmp, "repo.json") };
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));
    const run = (cmd: string, args: string[], extra: Record<string, string> = {}) => spawnSync(cmd, args, { cwd: tmp, encoding: "utf8", env: { ...env, ...extra } });
    const pulumi = (args: string[], extra: Record<string, string> = {}) => run("pulumi", args, { PULUMI_ACCESS_TOKEN: "t", ...extra });

    it("pulumi: login, stack lookup, unknown flags, confirmation", () => {
        assert.deepStrictEqual([run("pulumi", ["stack", "ls", "--json"]).status, run("pulumi", ["stack", "ls", "--json"]).stderr], [3, "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n"]);
        assert.deepStrictEqual([pulumi(["stack", "select", "pr-9"]).status, pulumi(["stack", "select", "pr-9"]).stderr], [6, "error: no stack named 'pr-9' found\n"]);
        assert.strictEqual(pulumi(["destroy", "--stack", "pr-1", "--bogus"]).stderr, "error: unknown flag: --bogus\n");
        assert.strictEqual(pulumi(["destroy", "--stack", "pr-1", "--non-interactive"]).status, 2);
    });

    it("pulumi: destroy validates the stack's config on 3.248.0 always, on 3.249.0 and later only when it runs the program", () => {
        const destroy = (version: string, flags: string[] = [], extra: Record<string, string> = {}) =>
            pulumi(["destroy", "--stack", "pr-2", "--yes", "--non-interactive", ...flags], { PULUMI_STANDIN_VERSION: version, ...extra });
        const missing = "error: validating stack config: Stack 'pr-2' is missing configuration value 'app'\n";
        assert.strictEqual(destroy("3.248.0").stderr, missing);
        assert.strictEqual(destroy("3.248.0", ["--skip-config-validation"]).stderr, "error: unknown flag: --skip-config-validation\n");
        assert.strictEqual(destroy("3.259.0").status, 0);
        assert.strictEqual(destroy("3.259.0", ["--run-program"]).stderr, missing);
        assert.strictEqual(destroy("3.259.0", [], { PULUMI_RUN_PROGRAM: "true" }).stderr, missing);
        assert.strictEqual(destroy("3.259.0", ["--run-program", "--skip-config-validation"]).status, 0);
    });

    it("pulumi: stack rm refuses while resources remain; config refresh needs a previous deployment", () => {
        const rm = pulumi(["stack", "rm", "pr-1", "--yes", "--non-interactive"]);
        assert.strictEqual(rm.status, 1);
        assert.match(rm.stderr, /^error: 'acme\/pr-1' still has resources; removal rejected\. Possible actions:/);
        const refresh = pulumi(["config", "refresh", "--stack", "pr-3", "--force"]);
        assert.deepStrictEqual([refresh.status, refresh.stderr], [1, "error: getting latest configuration: no previous deployment\n"]);
    });

    it("pulumi: config get gives the stack's value, a secret decrypted, else the project's default, else 'not found'", () => {
        fs.writeFileSync(path.join(tmp, "Pulumi.yaml"), "name: test\nruntime: nodejs\nconfig:\n  app:\n    type: string\n  key:\n    type: string\n    default: \"\"\n");
        fs.writeFileSync(path.join(tmp, "Pulumi.pr-1.yaml"), YAML.stringify({ config: { "test:app": "shop", "test:secret": { secure: `v1:${Buffer.from("s3cr3t").toString("base64")}` } } }));
        try {
            const get = (key: string) => pulumi(["config", "get", "--stack", "pr-1", key]);
            assert.deepStrictEqual([get("app").status, get("app").stdout], [0, "shop\n"]);
            assert.strictEqual(get("secret").stdout, "s3cr3t\n");
            assert.deepStrictEqual([get("key").status, get("key").stdout], [0, "\n"]);
            assert.deepStrictEqual([get("other").status, get("other").stderr], [1, "error: configuration key 'other' not found for stack 'acme/pr-1'\n"]);
            assert.strictEqual(run("pulumi", ["config", "get", "--stack", "pr-1", "app"]).status, 3, "needs a login");
        } finally {
            fs.writeFileSync(path.join(tmp, "Pulumi.yaml"), "name: test\nruntime: nodejs\nconfig:\n  app:\n    type: string\n");
            fs.rmSync(path.join(tmp, "Pulumi.pr-1.yaml"));
        }
    });

    it("gh: no token, no GitHub remote, an unknown JSON field, a missing label or pull request", () => {
        const noToken = run("gh", ["pr", "view", "1", "--json", "state"], { GITHUB_ACTIONS: "true" });
        assert.deepStrictEqual([noToken.status, noToken.stderr.split("\n")[0]], [4, "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable. Example:"]);
        const gh = (args: string[], extra: Record<string, string> = {}) => run("gh", args, { GH_TOKEN: "t", ...extra });
        assert.match(gh(["pr", "view", "1", "--json", "state"]).stderr, /^none of the git remotes configured for this repository point to a known GitHub host/);
        const withRepo = { GH_REPO: "acme/rails-stack" };
        assert.strictEqual(gh(["pr", "view", "1", "--json", "state", "--jq", ".state"], withRepo).stdout, "OPEN\n");
        assert.match(gh(["pr", "view", "1", "--json", "statee"], withRepo).stderr, /^Unknown JSON field: "statee"\nAvailable fields:\n {2}additions\n/);
        assert.strictEqual(gh(["pr", "view", "4", "--json", "state"], withRepo).stderr, "GraphQL: Could not resolve to a PullRequest with the number of 4. (repository.pullRequest)\n");
        assert.strictEqual(gh(["issue", "create", "--title", "x", "--body", "y", "--label", "drift"], withRepo).stderr, "could not add label: 'drift' not found\n");
        assert.strictEqual(gh(["issue", "create", "--title", "x"], withRepo).stderr, "must provide `--title` and `--body` when not running interactively\n");
        assert.strictEqual(gh(["label", "create", "bug"], withRepo).stderr, 'label with name "bug" already exists; use `--force` to update its color and description\n');
        const closed = gh(["issue", "close", "3"], withRepo);
        assert.deepStrictEqual([closed.status, closed.stderr], [0, "! Issue acme/rails-stack#3 (t) is already closed\n"]);
    });
});
