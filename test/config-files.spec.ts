// Stack files read as the Pulumi CLI reads them: blank values, YAML errors, namespaces, which file a
// stack reads, encrypted values, one-off overrides; each problem as the exact line the user sees.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../config/parse";
import { isSecretValue, readStackConfig, runPlan, SECRET_MASK, StackConfigSource } from "../plan/run";
import { ROOT, testCheckout } from "./support";

/** Staging's non-secret values, one per line: line n + 1 of the file is STAGING_LINES[n], a line appended is line 9. */
const STAGING_LINES = [
    "config:",
    "  rails-stack:app: shop",
    "  rails-stack:domain: example.com",
    "  rails-stack:image: acme/shop",
    "  rails-stack:registryUsername: acme",
    "  rails-stack:cloudflareAccountId: 0123456789abcdef0123456789abcdef",
    "  rails-stack:cloudflareZoneId: fedcba9876543210fedcba9876543210",
    "  rails-stack:appDir: ../shop",
];
const STAGING = `${STAGING_LINES.join("\n")}\n`;

/** A project directory holding Pulumi.yaml and the given stack files; removed after the suite. */
function project(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-files-"));
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return dir;
}

const dirs: string[] = [];
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** Every line the user sees for `stack` with these files: the file's problems, else the config's. */
function problems(stack: string, files: Record<string, string>, overrides: Record<string, string> = {}): readonly string[] {
    const dir = project(files);
    dirs.push(dir);
    const read = readStackConfig(dir, stack, overrides);
    if (!read.ok) return read.errors;
    const parsed = parseConfig(read.source, stack);
    return parsed.ok ? [] : parsed.errors;
}

function source(stack: string, files: Record<string, string>, overrides: Record<string, string> = {}): StackConfigSource {
    const dir = project(files);
    dirs.push(dir);
    const read = readStackConfig(dir, stack, overrides);
    if (!read.ok) throw new Error(read.errors.join("\n"));
    return read.source;
}

const APP_BLANK = "rails-stack:app: is blank, but it is required; Service name: Kamal `service`, prefix of every physical name. 2-20 chars: a-z, 0-9, '-'.";

const FILE_MISTAKES: { name: string; stack?: string; files: Record<string, string>; expected: string[] }[] = [
    { name: "a value left blank after the colon", files: { "Pulumi.staging.yaml": STAGING.replace("app: shop", "app:") }, expected: [APP_BLANK] },
    { name: "a value given as YAML's ~", files: { "Pulumi.staging.yaml": STAGING.replace("app: shop", "app: ~") }, expected: [APP_BLANK] },
    {
        name: "a value with an unquoted ': ' in it",
        files: { "Pulumi.staging.yaml": STAGING.replace("image: acme/shop", "image: acme/shop: v2") },
        expected: [
            "Pulumi.staging.yaml:4:22: nested mappings are not allowed in compact mappings; quote a value that contains ': ', and indent the keys under config: alike",
        ],
    },
    {
        name: "a YAML error in staging's file, seen from a review stack",
        stack: "pr-7",
        files: { "Pulumi.staging.yaml": STAGING.replace("image: acme/shop", "image: acme/shop: v2") },
        expected: [
            "Pulumi.staging.yaml:4:22: nested mappings are not allowed in compact mappings; quote a value that contains ': ', and indent the keys under config: alike (pr-7 reads staging's file)",
        ],
    },
    {
        name: "a tab for indentation",
        files: { "Pulumi.staging.yaml": `${STAGING}\trails-stack:volumeSize: 20\n` },
        expected: ["Pulumi.staging.yaml:9:1: tabs are not allowed as indentation"],
    },
    {
        name: "a quote left open",
        files: { "Pulumi.staging.yaml": STAGING.replace("appDir: ../shop", 'appDir: "../shop') },
        expected: ['Pulumi.staging.yaml:8:23: the " opened here is never closed'],
    },
    {
        name: "a key set twice",
        files: { "Pulumi.staging.yaml": `${STAGING}  rails-stack:app: store\n` },
        expected: ["Pulumi.staging.yaml:9:3: rails-stack:app is set twice; keep one"],
    },
    {
        name: "keys without a namespace, which Pulumi refuses",
        files: { "Pulumi.staging.yaml": `${STAGING}  volumeSize: 20\n  a:b:c: x\n` },
        expected: [
            'Pulumi.staging.yaml:9:3: config key "volumeSize" is not <namespace>:<key>, which Pulumi requires; write rails-stack:volumeSize',
            'Pulumi.staging.yaml:10:3: config key "a:b:c" is not <namespace>:<key>, which Pulumi requires',
        ],
    },
    {
        name: "a file that is a list",
        files: { "Pulumi.staging.yaml": "- rails-stack:app: shop\n" },
        expected: ["Pulumi.staging.yaml:1:1: expected a mapping with a config: section"],
    },
    {
        name: "config: that is not a mapping",
        files: { "Pulumi.staging.yaml": "config: rails-stack:app=shop\n" },
        expected: ["Pulumi.staging.yaml:1:9: config: must map <namespace>:<key> to values"],
    },
    {
        name: "keys outside the project's namespace",
        files: { "Pulumi.staging.yaml": `${STAGING}  rails_stack:volumeSize: 20\n  aws:region: eu-central-1\n  pulumi:template: rails\n  hcloud:endpoint: x\n` },
        expected: [
            'aws:region: unknown namespace "aws"; this program reads rails-stack: keys and accepts pulumi:, hcloud:, cloudflare:, tailscale:, command:; remove it',
            'rails_stack:volumeSize: unknown namespace "rails_stack"; did you mean rails-stack:volumeSize?',
        ],
    },
    {
        name: "an encrypted value of a key that is not a secret: only what the user wrote",
        files: { "Pulumi.staging.yaml": STAGING.replace("domain: example.com", "domain:\n    secure: v1:AAAA") },
        expected: ["rails-stack:domain: is stored as a secret but is not one (it appears in names, URLs or rendered files); set it without --secret"],
    },
    {
        name: "a list where a single value belongs",
        files: { "Pulumi.staging.yaml": `${STAGING}  rails-stack:location:\n    - fsn1\n    - nbg1\n` },
        expected: ["rails-stack:location: expected a single value, got a list; Hetzner location with ARM64 capacity: fsn1, nbg1 or hel1."],
    },
    {
        name: "an unknown stack name, checked before any file is looked for",
        stack: "qa",
        files: {},
        expected: ['stack "qa": allowed stack names are production, staging and pr-<number>'],
    },
    {
        name: "a stack without its file",
        stack: "production",
        files: { "Pulumi.staging.yaml": STAGING },
        expected: ["Pulumi.production.yaml: no such stack file in <dir>; create it with: pulumi stack init production"],
    },
    {
        name: "a review stack when staging has no file either",
        stack: "pr-7",
        files: {},
        expected: ["Pulumi.staging.yaml: no such stack file in <dir>; create it with: pulumi stack init staging (pr-7 reads staging's file)"],
    },
];

describe("stack files, read as the Pulumi CLI reads them", () => {
    for (const row of FILE_MISTAKES) {
        it(row.name, () => {
            const lines = problems(row.stack ?? "staging", row.files).map((line) => line.replace(/ in \/[^;]+;/, " in <dir>;"));
            assert.deepStrictEqual(lines, row.expected);
        });
    }

    it("reads YAML null as blank, never as the word null", () => {
        const s = source("staging", { "Pulumi.staging.yaml": STAGING.replace("app: shop", "app:") });
        assert.strictEqual(s.values.app, "");
    });

    it("passes non-string scalars, lists and maps as the CLI does", () => {
        const s = source("staging", { "Pulumi.staging.yaml": `${STAGING}  rails-stack:volumeSize: 20\n  rails-stack:publicIpv4: false\n  rails-stack:tailscaleTags: [tag:a, tag:b]\n` });
        assert.deepStrictEqual([s.values.volumeSize, s.values.publicIpv4, s.values.tailscaleTags], ["20", "false", '["tag:a","tag:b"]']);
    });

    it("reads the legacy <namespace>:config:<key> form", () => {
        assert.strictEqual(source("staging", { "Pulumi.staging.yaml": STAGING.replace("rails-stack:app:", "rails-stack:config:app:") }).values.app, "shop");
    });

    it("gives a review stack staging's file, or its own when it has one", () => {
        assert.strictEqual(source("pr-7", { "Pulumi.staging.yaml": STAGING }).file, "Pulumi.staging.yaml");
        const own = source("pr-7", { "Pulumi.staging.yaml": STAGING, "Pulumi.pr-7.yaml": STAGING.replace("app: shop", "app: store") });
        assert.deepStrictEqual([own.file, own.values.app], ["Pulumi.pr-7.yaml", "store"]);
    });

    it("keeps other namespaces' keys for the parser, apart from the project's", () => {
        const s = source("staging", { "Pulumi.staging.yaml": `${STAGING}  hcloud:endpoint: x\n  aws:secretKey:\n    secure: v1:AAAA\n` });
        assert.deepStrictEqual(s.otherNamespaces, { "hcloud:endpoint": { value: "x", secret: false }, "aws:secretKey": { value: "", secret: true } });
        assert.ok(!("endpoint" in s.values));
    });
});

describe("one-off overrides (--set)", () => {
    const files = { "Pulumi.staging.yaml": STAGING.replace("domain: example.com", "domain:\n    secure: v1:AAAA") };

    it("keeps a secret given for one run secret, and it is no longer a placeholder", () => {
        const s = source("staging", files, { hcloudToken: "tok-override", domain: "example.com" });
        assert.strictEqual(s.values.hcloudToken, "tok-override");
        assert.ok(s.secretKeys.has("hcloudToken"));
        assert.ok(!s.placeholders.includes("hcloudToken"));
        assert.deepStrictEqual(parseConfig(s, "staging").ok, true, "a secret override is not 'stored in plain text'");
    });

    it("replaces an encrypted value of a plain key with the plain value given", () => {
        const s = source("staging", files, { domain: "example.com" });
        assert.ok(!s.secretKeys.has("domain") && !s.placeholders.includes("domain"));
    });

    it("takes namespaced keys: the project's own, or another namespace's for the parser to judge", () => {
        const s = source("staging", files, { "rails-stack:tlsMode": "tunnel", "aws:region": "eu-central-1", domain: "example.com" });
        assert.strictEqual(s.values.tlsMode, "tunnel");
        assert.deepStrictEqual(problems("staging", files, { "aws:region": "eu-central-1", domain: "example.com" }), [
            'aws:region: unknown namespace "aws"; this program reads rails-stack: keys and accepts pulumi:, hcloud:, cloudflare:, tailscale:, command:; remove it',
        ]);
    });

    it("plans with a secret override, masked in the plan", async () => {
        const s = source("staging", { "Pulumi.staging.yaml": STAGING }, { hcloudToken: "tok-one-off-7f3a", appVersion: "v1" });
        const result = await runPlan("staging", s, { readCommit: testCheckout });
        assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
        const provider = result.resources.find((r) => r.type === "pulumi:providers:hcloud");
        assert.ok(provider && isSecretValue((provider.inputs as Record<string, unknown>).token), "the override reaches the provider as a secret");
        assert.deepStrictEqual(result.entries.find((e) => e.type === "pulumi:providers:hcloud")?.inputs, { token: SECRET_MASK });
        assert.ok(!JSON.stringify(result.entries).includes("tok-one-off-7f3a"));
    });
});
