// The offline plan as a user runs it: `npm run plan -- --stack <name>`.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readProjectDefaults } from "../lib/stack-file";
import { renderPulumiYaml } from "../plan/docs";
import { TYPE } from "../plan/resource-types";
import { getMonitor, revealSecrets, SECRET_MASK, stackConfigFromFiles } from "../plan/run";
import { declaredDefaults } from "../plan/stack-config";
import { planFor, ROOT } from "./support";

function plan(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const run = spawnSync(process.execPath, [path.join(ROOT, "launch.js"), "plan/cli", ...args], { encoding: "utf8", cwd: ROOT });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

interface Entry {
    type: string;
    name: string;
    parent: string | null;
    inputs: unknown;
    inputDependencies: Record<string, string[]>;
    inputArtifacts: Record<string, string>;
}

describe("offline plan command", () => {
    let tmp: string;
    before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"))));
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));
    const entries: Record<string, Entry[]> = {};

    for (const [stack, railsEnv] of [["staging", "staging"], ["production", "production"], ["pr-7", "staging"]]) {
        it(`plans ${stack} offline with RAILS_ENV ${railsEnv}`, () => {
            const out = path.join(tmp, stack);
            // A pinned version: the plan would otherwise read the app's checkout, outside this repository.
            const run = plan(["--stack", stack, "--out", out, "--set", "appVersion=v1"]);
            assert.strictEqual(run.status, 0, run.stderr);
            assert.match(run.stdout, new RegExp(`RAILS_ENV: ${railsEnv}\\n`));
            // The R2 pairs this kind deploys with stand in too: a review stack's are the review pool's.
            const expected =
                stack === "pr-7"
                    ? "cloudflareApiToken, hcloudToken, railsMasterKey, registryPassword, registryPushPassword, reviewR2AttachmentsAccessKeyId, reviewR2AttachmentsSecretAccessKey, reviewR2BackupsAccessKeyId, reviewR2BackupsSecretAccessKey, tailscaleApiKey"
                    : `cloudflareApiToken, hcloudToken, r2AttachmentsAccessKeyId, r2AttachmentsSecretAccessKey, r2BackupsAccessKeyId, r2BackupsSecretAccessKey, railsMasterKey, registryPassword, ${
                          // Production only pulls the image CI pushed: no push token.
                          stack === "staging" ? "registryPushPassword, " : ""
                      }tailscaleApiKey`;
            assert.ok(run.stdout.includes(`placeholder secrets: ${expected}\n`), run.stdout);
            entries[stack] = JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8"));
            for (const entry of entries[stack]) assert.deepStrictEqual(Object.keys(entry).sort(), ["inputArtifacts", "inputDependencies", "inputs", "name", "parent", "type"]);
        });
    }

    it("gives the three stacks disjoint resource names", () => {
        const names = Object.values(entries).map((list) => new Set(list.map((e) => e.name)));
        assert.strictEqual(names.length, 3);
        for (const [i, a] of names.entries()) {
            for (const b of names.slice(i + 1)) assert.deepStrictEqual([...a].filter((n) => b.has(n)), []);
        }
    });

    it("masks secret inputs in plan.json", () => {
        const provider = entries.staging.find((e) => e.type === "pulumi:providers:hcloud");
        assert.deepStrictEqual(provider?.inputs, { token: SECRET_MASK });
        assert.ok(!JSON.stringify(entries).includes("placeholder-"), "a placeholder secret leaked into plan.json");
    });

    it("shows the deploy Command's environment in clear, each secret value masked where it is", () => {
        const deploy = entries.staging.find((e) => e.type === TYPE.command && e.name.endsWith("-deploy-kamal"));
        const environment = (deploy?.inputs as { environment: Record<string, string> }).environment;
        assert.strictEqual(environment.RAILS_STACK_RAILS_ENV, "staging");
        assert.strictEqual(environment.RAILS_STACK_VERSION, "v1");
        assert.match(environment.RAILS_STACK_FILE_0, /^service: shop$/m, "the rendered Kamal set, reproducible from plan.json");
        // Kamal's secrets, and the step's own: the tunnel token and (staging builds) the push credential.
        const secretNames = [...environment.RAILS_STACK_SECRET_NAMES.split(" "), "RAILS_STACK_TUNNEL_TOKEN", "RAILS_STACK_REGISTRY_PUSH_PASSWORD"];
        const masked = Object.keys(environment).filter((k) => environment[k] === SECRET_MASK);
        assert.deepStrictEqual(masked.sort(), secretNames.sort(), "exactly the secret values are masked");
    });

    it("names, per input, the resources its value comes from", () => {
        const server = entries.staging.find((e) => e.type === TYPE.server);
        assert.deepStrictEqual(server?.inputDependencies.userData, ["shop-staging-web-1-tailnet-key"], "the auth key is in the user-data");
        assert.deepStrictEqual(server?.inputDependencies.sshKeys, ["shop-staging-hosts-ssh-key"]);
        assert.strictEqual(server?.inputDependencies.serverType, undefined);
        assert.deepStrictEqual(server?.inputArtifacts, { userData: "cloud-init/shop-staging-web-1.yaml" }, "a masked input's change shows in its artifact");
    });

    it("exits 2 with one line per problem, no stack trace and nothing written, on bad config", () => {
        const out = path.join(tmp, "bad");
        const run = plan(["--stack", "staging", "--out", out, "--set", "webServerType=cx22", "--set", "location=ash"]);
        assert.strictEqual(run.status, 2);
        assert.strictEqual(
            run.stderr,
            "invalid stack config for staging (Pulumi.staging.yaml):\n" +
                '  rails-stack:location: "ash" has no ARM64 (cax) servers; allowed: fsn1, nbg1, hel1\n' +
                '  rails-stack:webServerType: "cx22" is an x86 type; only ARM64 types are allowed: cax11, cax21, cax31, cax41\n',
        );
        assert.strictEqual(run.stdout, "");
        assert.ok(!fs.existsSync(out));
    });

    it("exits 2 on ERB in a value rendered into deploy.yml, which Kamal would run, and never runs it", () => {
        const marker = path.join(tmp, "pwned");
        const run = plan(["--stack", "staging", "--out", path.join(tmp, "erb"), "--set", `registryUsername=acme<%= %x(id > ${marker}) %>`]);
        assert.strictEqual(run.status, 2);
        assert.match(run.stderr, /^ {2}rails-stack:registryUsername: "acme<%= %x\(id > .+\) %>" is not a registry user name; allowed: .*Kamal's ERB/m);
        assert.ok(!fs.existsSync(marker));
    });

    it("exits 2 on a review stack name that is not a number", () => {
        const run = plan(["--stack", "pr-x", "--out", path.join(tmp, "prx")]);
        assert.strictEqual(run.status, 2);
        assert.match(run.stderr, /stack "pr-x": a review stack is named pr-<pull request number>/);
        assert.doesNotMatch(run.stderr, /\n\s+at /);
    });

    it("takes a secret for one run with --set, keeps it secret and masks it", () => {
        const out = path.join(tmp, "one-off-secret");
        const run = plan(["--stack", "staging", "--out", out, "--set", "appVersion=v1", "--set", "hcloudToken=tok-one-off-9c2e"]);
        assert.strictEqual(run.status, 0, run.stderr);
        assert.match(run.stdout, /placeholder secrets: cloudflareApiToken, r2AttachmentsAccessKeyId, r2AttachmentsSecretAccessKey, r2BackupsAccessKeyId, r2BackupsSecretAccessKey, railsMasterKey, registryPassword, registryPushPassword, tailscaleApiKey\n/);
        const written = JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8")) as Entry[];
        assert.deepStrictEqual(written.find((e) => e.type === "pulumi:providers:hcloud")?.inputs, { token: SECRET_MASK });
        for (const file of fs.readdirSync(out, { recursive: true, encoding: "utf8" }).filter((f) => fs.statSync(path.join(out, f)).isFile())) {
            assert.ok(!fs.readFileSync(path.join(out, file), "utf8").includes("tok-one-off-9c2e"), `the secret leaked into ${file}`);
        }
    });

    // Argument mistakes: exit 2, the one line naming the flag or argument, then the usage line.
    const STACK_RULE = "allowed stack names are production, staging and pr-<number>";
    const BAD_ARGUMENTS: { args: string[]; expected: string }[] = [
        { args: ["--stack", "staging", "--set", "appVersion"], expected: "--set appVersion: missing '=value' (write --set appVersion=value)" },
        { args: ["--stack", "staging", "--set", "=v1"], expected: "--set =v1: missing key (write --set key=v1)" },
        { args: ["--stack", "staging", "--colour", "blue"], expected: "unknown flag --colour" },
        { args: ["--stack"], expected: "--stack: missing value" },
        { args: ["--stack", "--set", "appVersion=v1"], expected: "--stack: missing value" },
        { args: ["--stack", "staging", "extra"], expected: 'unexpected argument "extra"; flags are --stack, --out, --set' },
        { args: ["--set", "appVersion=v1"], expected: "--stack is required" },
        { args: ["--stack", "qa"], expected: `stack "qa": ${STACK_RULE}` },
        { args: ["--stack", "Staging"], expected: `stack "Staging": ${STACK_RULE}; did you mean staging?` },
        { args: ["--stack=pr 7"], expected: `stack "pr 7": ${STACK_RULE}; did you mean pr-7?` },
    ];
    for (const bad of BAD_ARGUMENTS) {
        it(`exits 2 on ${bad.args.join(" ")}`, () => {
            const out = path.join(tmp, "bad-args");
            const run = plan([...bad.args, "--out", out]);
            assert.strictEqual(run.status, 2);
            assert.strictEqual(run.stderr, `${bad.expected}\nusage: npm run plan -- --stack <production|staging|pr-N> [--out <dir>] [--set key=value ...]\n`);
            assert.ok(!fs.existsSync(out));
        });
    }

    it("refuses to clear an --out directory that is not a plan output", () => {
        const precious = path.join(tmp, "precious");
        fs.mkdirSync(precious);
        fs.writeFileSync(path.join(precious, "notes.txt"), "keep me");
        const run = plan(["--stack", "staging", "--out", precious]);
        assert.strictEqual(run.status, 1);
        assert.match(run.stderr, /exists and is not a plan output/);
        assert.strictEqual(fs.readFileSync(path.join(precious, "notes.txt"), "utf8"), "keep me");
    });
});

describe("plan.json: what the engine receives", () => {
    it("still reaches the runtime's monitor (internal SDK function present)", () => {
        assert.strictEqual(typeof getMonitor, "function");
    });

    it("carries the same values the mocks saw, only the secrecy where the engine has it", async () => {
        const plan = await planFor("production");
        for (const resource of plan.resources.filter((r) => r.type !== "pulumi:pulumi:Stack")) {
            const registration = plan.registrations.get(`${resource.type}::${resource.name}`);
            assert.deepStrictEqual(revealSecrets(registration?.inputs), revealSecrets(resource.inputs), `${resource.name}`);
        }
    });
});

describe("stack config files", () => {
    it("applies Pulumi.yaml's defaults as the CLI reads them from the generated file, without reading it", () => {
        // The CLI reads the generated file; the plan takes the same strings from config/keys.ts.
        const generated = readProjectDefaults(renderPulumiYaml(), "Pulumi.yaml");
        assert.ok(generated.ok);
        assert.deepStrictEqual(declaredDefaults(), generated.value);
        assert.ok(["volumeSize", "publicIpv4", "hostnames", "location"].every((k) => k in generated.value), "numbers, booleans, lists and strings covered");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "defaults-"));
        try {
            // No Pulumi.yaml in the directory: the plan reads only the stack file.
            fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), "config:\n  rails-stack:app: shop\n  rails-stack:volumeSize: 20\n");
            const source = stackConfigFromFiles(dir, "staging");
            assert.deepStrictEqual([source.values.location, source.values.volumeSize, source.values.hostnames], ["fsn1", "20", "[]"]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("turns encrypted values and absent declared secrets into listed placeholders", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stackfile-"));
        try {
            fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
            fs.writeFileSync(
                path.join(dir, "Pulumi.staging.yaml"),
                "config:\n  rails-stack:app: shop\n  rails-stack:hcloudToken:\n    secure: v1:AAAA\n  aws:region: eu-central-1\n",
            );
            const source = stackConfigFromFiles(dir, "pr-12");
            assert.strictEqual(source.file, "Pulumi.staging.yaml");
            assert.strictEqual(source.values.app, "shop");
            assert.strictEqual(source.values.location, "fsn1", "Pulumi.yaml defaults apply as the CLI applies them");
            assert.strictEqual(source.values.hcloudToken, "placeholder-hcloudToken");
            assert.ok(!("region" in source.values), "other namespaces are not project config");
            assert.deepStrictEqual(source.otherNamespaces, { "aws:region": { value: "eu-central-1", secret: false } }, "but kept for the parser to judge");
            assert.deepStrictEqual(source.placeholders, [
                "cloudflareApiToken",
                "hcloudToken",
                "railsMasterKey",
                "registryPassword",
                "registryPushPassword",
                "reviewR2AttachmentsAccessKeyId",
                "reviewR2AttachmentsSecretAccessKey",
                "reviewR2BackupsAccessKeyId",
                "reviewR2BackupsSecretAccessKey",
                "tailscaleApiKey",
            ]);
            assert.deepStrictEqual([...source.secretKeys].sort(), source.placeholders);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
