import * as assert from "assert";
import { parseConfig } from "../config/parse";
import { Settings } from "../config/settings";
import { RawExtra, STAGING_SECRETS, stagingRaw } from "./staging-config";

function settings(stack: string, overrides: Record<string, string | undefined> = {}): Settings {
    const result = parseConfig(stagingRaw(overrides), stack);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    return result.settings;
}

function errors(stack: string, overrides: Record<string, string | undefined>, secretKeys?: string[], extra?: RawExtra): string[] {
    const result = parseConfig(stagingRaw(overrides, secretKeys, extra), stack);
    return result.ok ? [] : result.errors;
}

describe("config: defaults derived from the stack", () => {
    it("derives railsEnv, hostnames, buckets and protection per stack kind", () => {
        const production = settings("production");
        const staging = settings("staging");
        const review = settings("pr-7");
        assert.deepStrictEqual(
            [production.railsEnv, staging.railsEnv, review.railsEnv],
            ["production", "staging", "staging"],
        );
        assert.deepStrictEqual(production.hostnames, ["shop.example.com"]);
        assert.deepStrictEqual(staging.hostnames, ["shop-staging.example.com"]);
        assert.deepStrictEqual(review.hostnames, ["pr-7-shop-staging.example.com"]);
        assert.deepStrictEqual(
            [production.storage.backupsBucket, staging.storage.backupsBucket, review.storage.backupsBucket],
            ["shop-production-backups", "shop-staging-backups", "shop-review-backups"],
        );
        // Staging creates the review pool that review stacks use; production has none.
        assert.deepStrictEqual(staging.storage.reviewPool, { backupsBucket: "shop-review-backups", attachmentsBucket: "shop-review-attachments", expiryDays: 14 });
        assert.strictEqual(production.storage.reviewPool, undefined);
        assert.strictEqual(review.storage.reviewPool, undefined);
        assert.deepStrictEqual([production.protect, staging.protect, review.protect], [true, false, false]);
        assert.strictEqual(review.prNumber, 7);
        assert.strictEqual(review.kind, "review");
    });

    it("gives review stacks their own hostnames even when staging sets them explicitly, and the review pool, never staging's buckets", () => {
        const overrides = { hostnames: JSON.stringify(["staging.example.com", "api-staging.example.com"]), backupsBucket: "shop-stg-db", reviewBackupsBucket: "shop-prs-db" };
        const review = settings("pr-42", overrides);
        assert.deepStrictEqual(review.hostnames, ["pr-42-staging.example.com", "pr-42-api-staging.example.com"]);
        assert.strictEqual(review.storage.backupsBucket, "shop-prs-db");
        assert.strictEqual(settings("staging", overrides).storage.backupsBucket, "shop-stg-db");
        assert.deepStrictEqual(settings("staging", overrides).hostnames, ["staging.example.com", "api-staging.example.com"]);
    });

    it("reads Pulumi.yaml's sentinel defaults as unset", () => {
        const s = settings("production", { railsEnv: "", hostnames: "[]", protect: "auto", r2Location: "", appVersion: "" });
        assert.strictEqual(s.railsEnv, "production");
        assert.deepStrictEqual(s.hostnames, ["shop.example.com"]);
        assert.strictEqual(s.protect, true);
        assert.strictEqual(s.storage.location, undefined);
        assert.strictEqual(s.deploy.appVersion, undefined);
    });

    it("applies Litestream overrides on top of the seed's retention table", () => {
        const s = settings("staging", { litestreamDatabases: JSON.stringify(["cache=off", "queue=5s/72h"]) });
        assert.deepStrictEqual(s.storage.litestream, {
            primary: { syncInterval: "1s", retention: "720h", snapshotInterval: "24h" },
            queue: { syncInterval: "5s", retention: "72h", snapshotInterval: "24h" },
            cache: null,
            cable: { syncInterval: "60s", retention: "24h", snapshotInterval: "24h" },
        });
    });

    it("snapshots every replica at litestreamSnapshotInterval, capped at each database's retention", () => {
        const s = settings("staging", { litestreamSnapshotInterval: "48h", litestreamDatabases: JSON.stringify(["queue=5s/12h"]) });
        assert.deepStrictEqual(
            Object.fromEntries(Object.entries(s.storage.litestream).map(([db, r]) => [db, r?.snapshotInterval])),
            { primary: "48h", queue: "12h", cache: "24h", cable: "24h" },
        );
        assert.strictEqual(settings("staging", { litestreamSnapshotInterval: "6h" }).storage.litestream.primary?.snapshotInterval, "6h");
    });

    it("accepts an OAuth client instead of an API key", () => {
        const result = parseConfig(
            stagingRaw({ tailscaleApiKey: undefined, tailscaleOauthClientId: "kid", tailscaleOauthClientSecret: "tskey-client-x" }, [
                ...STAGING_SECRETS.filter((k) => k !== "tailscaleApiKey"),
                "tailscaleOauthClientId",
                "tailscaleOauthClientSecret",
            ]),
            "staging",
        );
        assert.ok(result.ok && result.settings.tailscale.auth === "oauth");
    });

    it("freezes the settings", () => {
        const s = settings("staging");
        assert.ok(Object.isFrozen(s) && Object.isFrozen(s.deploy) && Object.isFrozen(s.hostnames));
    });
});

// One bad config per row, with the exact message the user sees.
const BAD_CONFIGS: { name: string; stack?: string; overrides: Record<string, string | undefined>; secretKeys?: string[]; expected: string[] }[] = [
    {
        name: "unknown key with a near miss",
        overrides: { webServer: "cax21" },
        expected: ["rails-stack:webServer: unknown key; did you mean webServerType?"],
    },
    {
        name: "unknown key",
        overrides: { colour: "blue" },
        expected: ["rails-stack:colour: unknown key; see the config reference in README.md"],
    },
    {
        name: "integer that is not a number",
        overrides: { volumeSize: "ten" },
        expected: ['rails-stack:volumeSize: "ten" is not a whole number; allowed: 10 to 10240'],
    },
    {
        name: "boolean that is not a boolean",
        overrides: { publicIpv4: "yes" },
        expected: ['rails-stack:publicIpv4: "yes" is not a boolean; allowed: true, false'],
    },
    {
        name: "array given as a string",
        overrides: { tailscaleTags: "tag:rails-host" },
        expected: ['rails-stack:tailscaleTags: "tag:rails-host" is not a list of strings; write it as a YAML list in the stack file'],
    },
    {
        name: "x86 server type",
        overrides: { webServerType: "cx22" },
        expected: ['rails-stack:webServerType: "cx22" is an x86 type; only ARM64 types are allowed: cax11, cax21, cax31, cax41'],
    },
    {
        name: "unknown server type",
        overrides: { webServerType: "cax99" },
        expected: ['rails-stack:webServerType: "cax99" is not a Hetzner ARM64 server type: cax11, cax21, cax31, cax41'],
    },
    {
        name: "location without ARM64",
        overrides: { location: "ash" },
        expected: ['rails-stack:location: "ash" has no ARM64 (cax) servers; allowed: fsn1, nbg1, hel1'],
    },
    {
        name: "unknown location",
        overrides: { location: "mars1" },
        expected: ['rails-stack:location: "mars1" is not a Hetzner location; allowed: fsn1, nbg1, hel1'],
    },
    {
        name: "malformed domain",
        overrides: { domain: "Example..com" },
        expected: ['rails-stack:domain: "Example..com" is not a valid lowercase domain; e.g. example.com'],
    },
    {
        name: "malformed hostname",
        overrides: { hostnames: JSON.stringify(["shop_staging.example.com"]) },
        expected: [
            'rails-stack:hostnames[0]: "shop_staging.example.com" is not a valid lowercase DNS name (labels a-z, 0-9, \'-\', at most 63 chars)',
        ],
    },
    {
        name: "hostname outside the zone",
        overrides: { hostnames: JSON.stringify(["shop.example.org"]) },
        expected: ['rails-stack:hostnames[0]: "shop.example.org" is outside the zone; allowed: example.com or a name ending in .example.com'],
    },
    {
        name: "duplicate hostnames",
        overrides: { hostnames: JSON.stringify(["a.example.com", "a.example.com"]) },
        expected: ['rails-stack:hostnames[1]: "a.example.com" is listed twice; each hostname may appear once'],
    },
    {
        name: "review stack name that is not a number",
        stack: "pr-abc",
        overrides: {},
        expected: ['stack "pr-abc": a review stack is named pr-<pull request number>, 1 to 999999, e.g. pr-42'],
    },
    {
        name: "stack that is neither production, staging nor a review stack",
        stack: "dev",
        overrides: {},
        expected: ['stack "dev": allowed stack names are production, staging and pr-<number>'],
    },
    {
        name: "railsEnv that is not an environment name",
        overrides: { railsEnv: "Staging-2" },
        expected: ['rails-stack:railsEnv: "Staging-2" is not a Rails environment name; allowed: lowercase letters, digits and \'_\', starting with a letter'],
    },
    {
        name: "railsEnv that cannot be deployed",
        overrides: { railsEnv: "development" },
        expected: ['rails-stack:railsEnv: "development" is not deployable (the image is bundled without its gems); use production, staging or another name'],
    },
    {
        name: "a second web host, which could not see the SQLite databases",
        overrides: { webHosts: "2" },
        expected: [
            "rails-stack:webHosts: is no longer a setting: the SQLite databases live on the volume of the stack's single host, and a second web host could not see them; remove it (scale up with webServerType)",
        ],
    },
    {
        name: "dedicated job hosts, which could not see the SQLite databases",
        overrides: { jobHosts: "1", jobServerType: "cax11" },
        expected: [
            "rails-stack:jobHosts: is no longer a setting: a dedicated job host could not see the SQLite databases on the app host's volume; remove it and choose where Solid Queue runs with solidQueue: puma or container",
            "rails-stack:jobServerType: is no longer a setting: Solid Queue runs on the stack's single host (see solidQueue); remove it",
        ],
    },
    {
        name: "unknown Solid Queue placement",
        overrides: { solidQueue: "host" },
        expected: ['rails-stack:solidQueue: "host" is not allowed; allowed: puma, container'],
    },
    {
        name: "app version that is not an image tag",
        overrides: { appVersion: "v1.2 final" },
        expected: [
            "rails-stack:appVersion: \"v1.2 final\" is not a valid image tag; allowed: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 chars",
        ],
    },
    {
        name: "missing app directory setting",
        overrides: { appDir: undefined },
        expected: ["rails-stack:appDir: is required and missing; set it with: pulumi config set appDir <value>"],
    },
    {
        name: "app directory Kamal's file mappings cannot carry",
        overrides: { appDir: "C:\\apps\\shop" },
        expected: [
            "rails-stack:appDir: \"C:\\\\apps\\\\shop\" contains '\"', '\\', ':' or a newline, which Kamal's file mappings cannot carry; move or link the checkout",
        ],
    },
    {
        name: "pre-deploy backups out of range",
        overrides: { deployBackups: "0" },
        expected: ["rails-stack:deployBackups: 0 is out of range; allowed: 1 to 100"],
    },
    {
        name: "a health-check wait Kamal would give up on at once",
        overrides: { deployTimeout: "2" },
        expected: ["rails-stack:deployTimeout: 2 is out of range; allowed: 5 to 600"],
    },
    {
        name: "volume below Hetzner's minimum",
        overrides: { volumeSize: "5" },
        expected: ["rails-stack:volumeSize: 5 is out of range; allowed: 10 to 10240"],
    },
    {
        name: "SSH keys, which nothing uses since Tailscale SSH checks tailnet identity",
        overrides: { sshPublicKeys: JSON.stringify(["ssh-ed25519 AAAA deploy@example"]) },
        expected: [
            "rails-stack:sshPublicKeys: is no longer a setting: the host accepts SSH only through Tailscale SSH, which checks tailnet identity against the tailnet policy's ssh rules, not authorized keys; remove it (docs/hosts.md, Access)",
        ],
    },
    {
        name: "rollHosts, now that a boot change always replaces the host with a fresh key",
        overrides: { rollHosts: "true" },
        expected: [
            "rails-stack:rollHosts: is no longer a setting: a change to what the host boots with now replaces it on every stack, with a fresh auth key (production's protection makes that a deliberate step); remove it (docs/hosts.md, Replacing the host)",
        ],
    },
    {
        name: "Tailscale tag without the tag: prefix",
        overrides: { tailscaleTags: JSON.stringify(["rails-host"]) },
        expected: ['rails-stack:tailscaleTags[0]: "rails-host" is not a Tailscale tag; allowed: \'tag:\' then a letter, then letters, digits or \'-\', e.g. tag:rails-staging'],
    },
    {
        name: "Tailscale tag with a bad character",
        overrides: { tailscaleTags: JSON.stringify(["tag:rails_host"]) },
        expected: ['rails-stack:tailscaleTags[0]: "tag:rails_host" is not a Tailscale tag; allowed: \'tag:\' then a letter, then letters, digits or \'-\', e.g. tag:rails-staging'],
    },
    {
        name: "missing required value",
        overrides: { domain: undefined },
        expected: ["rails-stack:domain: is required and missing; set it with: pulumi config set domain <value>"],
    },
    {
        name: "missing required secret",
        overrides: { hcloudToken: undefined },
        expected: ["rails-stack:hcloudToken: is required and missing; set it with: pulumi config set --secret hcloudToken <value>"],
    },
    {
        name: "secret stored in plain text",
        overrides: {},
        secretKeys: STAGING_SECRETS.filter((k) => k !== "railsMasterKey"),
        expected: ["rails-stack:railsMasterKey: is stored in plain text; set it with: pulumi config set --secret railsMasterKey <value>"],
    },
    {
        name: "plain value stored as a secret",
        overrides: {},
        secretKeys: [...STAGING_SECRETS, "cloudflareAccountId"],
        expected: [
            "rails-stack:cloudflareAccountId: is stored as a secret but is not one (it appears in names, URLs or rendered files); set it without --secret",
        ],
    },
    {
        name: "no Tailscale credential",
        overrides: { tailscaleApiKey: undefined },
        expected: [
            "rails-stack:tailscaleApiKey: is missing; set it with: pulumi config set --secret tailscaleApiKey <value>, or set tailscaleOauthClientId + tailscaleOauthClientSecret",
        ],
    },
    {
        name: "malformed Cloudflare zone id",
        overrides: { cloudflareZoneId: "my-zone" },
        expected: ['rails-stack:cloudflareZoneId: "my-zone" is not a Cloudflare id; allowed: 32 lowercase hex characters (dashboard → Overview)'],
    },
    {
        name: "unknown TLS mode",
        overrides: { tlsMode: "letsencrypt" },
        expected: ['rails-stack:tlsMode: "letsencrypt" is not allowed; allowed: acme, tunnel'],
    },
    {
        name: "the retired zone ruleset owner",
        stack: "production",
        overrides: { acmeRulesetOwner: "true" },
        expected: [
            "rails-stack:acmeRulesetOwner: is no longer a setting: the zone's http_config_settings rule is gone, since the zone's SSL mode does not change a tunnel's connection to the origin and the rule changed the challenge path for every other origin of the zone; remove it (docs/edge.md)",
        ],
    },
    {
        name: "image with a registry host",
        overrides: { image: "ghcr.io/acme/shop" },
        expected: ['rails-stack:image: "ghcr.io/acme/shop" must not carry a registry host or tag (set registryServer; Kamal tags images itself); e.g. acme/shop'],
    },
    {
        name: "bucket name breaking R2's rules",
        overrides: { backupsBucket: "Shop_Backups" },
        expected: [
            'rails-stack:backupsBucket: "Shop_Backups" breaks R2\'s bucket rules; allowed: 3-63 chars of a-z, 0-9 and \'-\', starting and ending with a letter or digit',
        ],
    },
    {
        name: "unknown R2 jurisdiction",
        overrides: { r2Jurisdiction: "ch" },
        expected: ['rails-stack:r2Jurisdiction: "ch" is not allowed; allowed: default, eu, fedramp'],
    },
    {
        name: "unknown R2 location hint",
        overrides: { r2Location: "mars" },
        expected: ['rails-stack:r2Location: "mars" is not allowed; allowed: apac, eeur, enam, weur, wnam, oc'],
    },
    {
        name: "retention shorter than the sync interval",
        overrides: { litestreamDatabases: JSON.stringify(["cache=10m/5m"]) },
        expected: [
            "rails-stack:litestreamDatabases[0]: retention 5m is shorter than the sync interval 10m; retention must be at least the sync interval",
        ],
    },
    {
        name: "non-duration string",
        overrides: { litestreamDatabases: JSON.stringify(["queue=1s/a week"]) },
        expected: ['rails-stack:litestreamDatabases[0]: retention "a week" is not a positive duration; use e.g. 24h, 720h'],
    },
    {
        name: "unknown database in the retention table",
        overrides: { litestreamDatabases: JSON.stringify(["jobs=1s/24h"]) },
        expected: ['rails-stack:litestreamDatabases[0]: unknown database "jobs"; allowed: primary, queue, cache, cable'],
    },
    {
        name: "ERB in the registry user name (deploy.yml goes through Kamal's ERB)",
        overrides: { registryUsername: "acme<%= %x(id > /tmp/pwned) %>" },
        expected: [
            `rails-stack:registryUsername: "acme<%= %x(id > /tmp/pwned) %>" is not a registry user name; allowed: letters, digits, '_', '.', '@', '+' and '-', starting with a letter, digit or '_' (deploy.yml goes through Kamal's ERB, so '<%' and the like are refused)`,
        ],
    },
    {
        name: "an auth key valid for longer than a day",
        overrides: { tailscaleKeyExpiry: "7776000" },
        expected: ["rails-stack:tailscaleKeyExpiry: 7776000 is out of range; allowed: 300 to 86400"],
    },
    {
        name: "snapshot interval that is not a duration",
        overrides: { litestreamSnapshotInterval: "daily" },
        expected: ['rails-stack:litestreamSnapshotInterval: "daily" is not a positive duration; use e.g. 12h, 24h'],
    },
    {
        name: "snapshot interval shorter than a sync interval",
        overrides: { litestreamSnapshotInterval: "30s" },
        expected: ["rails-stack:litestreamSnapshotInterval: 30s is shorter than cache's sync interval 60s; a snapshot interval is at least every sync interval, e.g. 24h"],
    },
    {
        name: "production without primary backups",
        stack: "production",
        overrides: { litestreamDatabases: JSON.stringify(["primary=off"]) },
        expected: ["rails-stack:litestreamDatabases[0]: the production primary database must be replicated; allowed: primary=<sync>/<retention>"],
    },
    {
        name: "several problems at once, all reported",
        overrides: { webServerType: "cpx31", location: "sin", volumeSize: "-1" },
        expected: [
            'rails-stack:location: "sin" has no ARM64 (cax) servers; allowed: fsn1, nbg1, hel1',
            'rails-stack:webServerType: "cpx31" is an x86 type; only ARM64 types are allowed: cax11, cax21, cax31, cax41',
            "rails-stack:volumeSize: -1 is out of range; allowed: 10 to 10240",
        ],
    },
];

describe("config: bad input is rejected with one clear line per problem", () => {
    it("has at least 25 distinct cases", () => assert.ok(new Set(BAD_CONFIGS.map((c) => c.name)).size >= 25));
    for (const bad of BAD_CONFIGS) {
        it(bad.name, () => assert.deepStrictEqual(errors(bad.stack ?? "staging", bad.overrides, bad.secretKeys), bad.expected));
    }
    it("never puts a newline or stack trace in a message", () => {
        for (const bad of BAD_CONFIGS) {
            for (const message of errors(bad.stack ?? "staging", bad.overrides, bad.secretKeys)) {
                assert.ok(!message.includes("\n") && !/\bat .+:\d+:\d+/.test(message), message);
            }
        }
    });
});

// The mistakes a new user makes, by class (the issue "every mistake a user can make gets one line
// they can act on"), each with the exact lines the user sees. Stack-file and command-line classes
// (YAML errors, --set) are in test/config-files.spec.ts and test/plan.spec.ts.
interface Mistake {
    name: string;
    stack?: string;
    overrides?: Record<string, string | undefined>;
    secretKeys?: string[];
    extra?: RawExtra;
    expected: string[];
}

const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n";
const plain = (value: string): { value: string; secret: boolean } => ({ value, secret: false });
const withoutSecret = (key: string): string[] => STAGING_SECRETS.filter((k) => k !== key);
const ROTATE = "looks like a private key; no setting takes one: remove it and rotate the key, since plain-text config stays in the stack file's history";
const UNIVERSAL_SSL = "and Cloudflare's Universal SSL covers only example.com and *.example.com";
const ADVANCED = "or set advancedCertificate: true if the zone has a certificate for it (Advanced Certificate Manager or Total TLS)";
const NAMESPACES = "this program reads rails-stack: keys and accepts pulumi:, hcloud:, cloudflare:, tailscale:, command:; remove it";
const STACK_RULE = "allowed stack names are production, staging and pr-<number>";

const DIGEST = `sha256:${"c".repeat(64)}`;
const MISTAKES: Record<string, Mistake[]> = {
    "blank values": [
        {
            name: "a required value left blank",
            overrides: { app: "" },
            expected: ["rails-stack:app: is blank, but it is required; Service name: Kamal `service`, prefix of every physical name. 2-20 chars: a-z, 0-9, '-'."],
        },
        {
            name: "a required value left blank, as CLIs that decode YAML null into an object pass it",
            overrides: { domain: "null" },
            expected: ["rails-stack:domain: is blank, but it is required; The Cloudflare zone (apex domain) that serves the app, e.g. example.com."],
        },
        {
            name: "a required secret left blank (in plain text: nothing to add about storage)",
            overrides: { hcloudToken: "" },
            secretKeys: withoutSecret("hcloudToken"),
            expected: ["rails-stack:hcloudToken: is blank, but it is required; set it with: pulumi config set --secret hcloudToken <value>"],
        },
        {
            name: "keys with a default left blank",
            overrides: { location: "", volumeSize: " " },
            expected: [
                'rails-stack:location: is blank; set a value, or remove the key for its default "fsn1"',
                "rails-stack:volumeSize: is blank; set a value, or remove the key for its default 10",
            ],
        },
    ],
    "hostnames Universal SSL does not cover": [
        {
            name: "two labels below the zone",
            overrides: { hostnames: JSON.stringify(["shop.example.com", "a.b.example.com"]) },
            expected: [`rails-stack:hostnames[1]: "a.b.example.com" is 2 labels below the zone, ${UNIVERSAL_SSL}; use one label (e.g. a-b.example.com), ${ADVANCED}`],
        },
        {
            name: "three labels below the zone, on production",
            stack: "production",
            overrides: { hostnames: JSON.stringify(["x.y.z.example.com"]) },
            expected: [`rails-stack:hostnames[0]: "x.y.z.example.com" is 3 labels below the zone, ${UNIVERSAL_SSL}; use one label (e.g. x-y-z.example.com), ${ADVANCED}`],
        },
        {
            name: "a review stack inheriting staging's deep name (the fix goes into staging's list)",
            stack: "pr-7",
            overrides: { hostnames: JSON.stringify(["api.staging.example.com"]) },
            expected: [
                `rails-stack:hostnames[0]: "pr-7-api.staging.example.com" is 2 labels below the zone, ${UNIVERSAL_SSL}; use one label (e.g. api-staging.example.com), ${ADVANCED}`,
            ],
        },
        {
            name: "advancedCertificate that is not a boolean",
            overrides: { advancedCertificate: "yes" },
            expected: ['rails-stack:advancedCertificate: "yes" is not a boolean; allowed: true, false'],
        },
    ],
    "SSH public keys (retired: the hosts take Tailscale SSH only)": [
        {
            name: "a misspelt retired key gets the retirement, not a suggestion to use it",
            overrides: { sshPublicKey: "ssh-ed25519 AAAA" },
            expected: [
                "rails-stack:sshPublicKey: unknown key; its nearest match, sshPublicKeys, is no longer a setting: the host accepts SSH only through Tailscale SSH, which checks tailnet identity against the tailnet policy's ssh rules, not authorized keys; remove it (docs/hosts.md, Access)",
            ],
        },
    ],
    "keys outside the project's namespace, and near misses": [
        {
            name: "the project name with '_' for '-'",
            extra: { otherNamespaces: { "rails_stack:volumeSize": plain("20") } },
            expected: ['rails_stack:volumeSize: unknown namespace "rails_stack"; did you mean rails-stack:volumeSize?'],
        },
        {
            name: "the project name without its '-', and a key in the wrong case",
            extra: { otherNamespaces: { "railsstack:volumesize": plain("20") } },
            expected: ['railsstack:volumesize: unknown namespace "railsstack"; did you mean rails-stack:volumeSize?'],
        },
        {
            name: "the project name missing a letter",
            extra: { otherNamespaces: { "rails-stak:appDir": plain("../shop") } },
            expected: ['rails-stak:appDir: unknown namespace "rails-stak"; did you mean rails-stack:appDir?'],
        },
        {
            name: "a provider's namespace misspelt",
            extra: { otherNamespaces: { "hclod:endpoint": plain("https://api.hetzner.cloud/v1") } },
            expected: ['hclod:endpoint: unknown namespace "hclod"; did you mean hcloud:endpoint?'],
        },
        {
            name: "another project's or provider's namespace",
            extra: { otherNamespaces: { "aws:region": plain("eu-central-1"), "shop:app": plain("shop") } },
            expected: [`aws:region: unknown namespace "aws"; ${NAMESPACES}`, `shop:app: unknown namespace "shop"; ${NAMESPACES}`],
        },
        {
            name: "keys that differ from a key only in case",
            overrides: { volumesize: "20", webservertype: "cax21", appdir: "../shop" },
            expected: [
                "rails-stack:appdir: unknown key; did you mean appDir?",
                "rails-stack:volumesize: unknown key; did you mean volumeSize?",
                "rails-stack:webservertype: unknown key; did you mean webServerType?",
            ],
        },
        {
            name: "keys a typo or two away",
            overrides: { domian: "example.com", tlsMdoe: "tunnel", registryUsrname: "acme" },
            expected: [
                "rails-stack:domian: unknown key; did you mean domain?",
                "rails-stack:registryUsrname: unknown key; did you mean registryUsername?",
                "rails-stack:tlsMdoe: unknown key; did you mean tlsMode?",
            ],
        },
        {
            name: "a near miss of a retired key",
            overrides: { webhost: "2" },
            expected: [
                "rails-stack:webhost: unknown key; its nearest match, webHosts, is no longer a setting: the SQLite databases live on the volume of the stack's single host, and a second web host could not see them; remove it (scale up with webServerType)",
            ],
        },
        {
            name: "a key too far from any to guess",
            overrides: { tailscale: "yes" },
            expected: ["rails-stack:tailscale: unknown key; see the config reference in README.md"],
        },
    ],
    "stack names": [
        { name: "a name outside the rule", stack: "qa", expected: [`stack "qa": ${STACK_RULE}`] },
        { name: "a known name in another case", stack: "Staging", expected: [`stack "Staging": ${STACK_RULE}; did you mean staging?`] },
        { name: "a review stack with a space", stack: "pr 7", expected: [`stack "pr 7": ${STACK_RULE}; did you mean pr-7?`] },
        { name: "a review stack in capitals", stack: "PR-12", expected: [`stack "PR-12": ${STACK_RULE}; did you mean pr-12?`] },
        { name: "a common abbreviation", stack: "prod", expected: [`stack "prod": ${STACK_RULE}; did you mean production?`] },
        { name: "a review stack numbered from 0", stack: "pr-07", expected: ['stack "pr-07": a review stack is named pr-<pull request number>, 1 to 999999, e.g. pr-42'] },
    ],
    "encrypted values of keys that are not secrets (the plan sees a stand-in)": [
        {
            name: "only how it is stored is reported, never the stand-in",
            overrides: { domain: "placeholder-domain", volumeSize: "placeholder-volumeSize" },
            secretKeys: [...STAGING_SECRETS, "domain", "volumeSize"],
            extra: { placeholders: ["domain", "volumeSize"] },
            expected: [
                "rails-stack:domain: is stored as a secret but is not one (it appears in names, URLs or rendered files); set it without --secret",
                "rails-stack:volumeSize: is stored as a secret but is not one (it appears in names, URLs or rendered files); set it without --secret",
            ],
        },
    ],
    "messages that explain the cause": [
        {
            name: "a review hostname the pr-<n>- prefix pushed past 63 chars",
            stack: "pr-4242",
            overrides: { hostnames: JSON.stringify([`${"a".repeat(60)}.example.com`]) },
            expected: [
                `rails-stack:hostnames[0]: "pr-4242-${"a".repeat(60)}.example.com": its first label is 68 chars, over DNS's 63, because review stack pr-4242 prefixes "pr-4242-" to staging's "${"a".repeat(60)}.example.com"; shorten that label to at most 55 chars`,
            ],
        },
        {
            name: "a review stack of a staging served on the apex",
            stack: "pr-7",
            overrides: { hostnames: JSON.stringify(["example.com"]) },
            expected: [
                'rails-stack:hostnames[0]: "pr-7-example.com" is outside the zone: review stack pr-7 prefixes "pr-7-" to staging\'s hostname example.com, the zone\'s apex; give staging a hostname one label below the zone, e.g. shop-staging.example.com',
            ],
        },
        {
            name: "a review stack without the review pool's key pairs (staging's config carries them)",
            stack: "pr-7",
            overrides: { reviewR2BackupsAccessKeyId: undefined, reviewR2BackupsSecretAccessKey: undefined },
            expected: [
                "rails-stack:reviewR2BackupsAccessKeyId: is missing: the key pair for backups alone; review stacks use the review pool's key pairs, which staging's config carries: mint them with npm run r2-credentials -- --stack staging",
                "rails-stack:reviewR2BackupsSecretAccessKey: is missing: the key pair for backups alone; review stacks use the review pool's key pairs, which staging's config carries: mint them with npm run r2-credentials -- --stack staging",
            ],
        },
        {
            name: "production without Litestream's key pair",
            stack: "production",
            overrides: { r2BackupsAccessKeyId: undefined },
            expected: ['rails-stack:r2BackupsAccessKeyId: is missing: the key pair for backups alone; mint it with npm run r2-credentials -- --stack production (docs/storage.md, "Credentials")'],
        },
        {
            name: "one bucket named for two purposes",
            overrides: { reviewBackupsBucket: "shop-staging-backups" },
            expected: ['rails-stack:attachmentsBucket: "shop-staging-backups" names two buckets; each bucket has one purpose'],
        },
        {
            name: "a private key pasted into a plain value (never echoed)",
            overrides: { registryUsername: PRIVATE_KEY },
            expected: [`rails-stack:registryUsername: ${ROTATE}`],
        },
        {
            name: "a private key pasted into a list item",
            overrides: { tailscaleTags: JSON.stringify(["tag:rails-host", PRIVATE_KEY]) },
            expected: [`rails-stack:tailscaleTags[1]: ${ROTATE}`],
        },
        {
            name: "a private key under a key that does not exist",
            overrides: { sshPrivateKey: PRIVATE_KEY },
            expected: [`rails-stack:sshPrivateKey: ${ROTATE}`],
        },
        {
            name: "a private key in a provider's namespace",
            extra: { otherNamespaces: { "hcloud:token": plain(PRIVATE_KEY) } },
            expected: [`hcloud:token: ${ROTATE}`],
        },
        {
            name: "a private key stored as a secret (not in the history: no rotation needed)",
            overrides: { railsMasterKey: PRIVATE_KEY },
            expected: ["rails-stack:railsMasterKey: looks like a private key; no setting takes one: remove it"],
        },
        {
            name: "a list where a single value belongs",
            overrides: { location: JSON.stringify(["fsn1", "nbg1"]) },
            expected: ["rails-stack:location: expected a single value, got a list; Hetzner location with ARM64 capacity: fsn1, nbg1 or hel1."],
        },
        {
            name: "a mapping where a single value belongs",
            overrides: { volumeSize: JSON.stringify({ size: 20 }) },
            expected: ["rails-stack:volumeSize: expected a single value, got a mapping; Size in GB of the Hetzner volume holding /rails/storage (10-10240)."],
        },
        {
            name: "a list where a single secret belongs (never echoed)",
            overrides: { registryPassword: JSON.stringify(["a", "b"]) },
            expected: ["rails-stack:registryPassword: expected a single value, got a list; Registry token the hosts pull with (Kamal secret KAMAL_REGISTRY_PASSWORD): Kamal logs every host in with it, so give it read (pull) access only."],
        },
    ],
    "the reviewed image and the registry credentials": [
        {
            name: "a digest that is not one",
            overrides: { buildImage: "false", appVersion: "v1", appImageDigest: "sha256:ABC", registryPushPassword: undefined },
            secretKeys: withoutSecret("registryPushPassword"),
            expected: ['rails-stack:appImageDigest: "sha256:ABC" is not an image digest; allowed: sha256: then 64 lowercase hex characters (docker buildx imagetools inspect <image>:<tag> prints it)'],
        },
        {
            name: "a digest where Kamal builds the image itself",
            overrides: { appVersion: "v1", appImageDigest: DIGEST },
            expected: ["rails-stack:appImageDigest: is set with buildImage: true, where Kamal builds the image itself; it pins an image CI pushed (buildImage: false)"],
        },
        {
            name: "a digest without the tag it pins",
            overrides: { buildImage: "false", appImageDigest: DIGEST, registryPushPassword: undefined },
            secretKeys: withoutSecret("registryPushPassword"),
            expected: ["rails-stack:appVersion: is missing: appImageDigest pins the image of one tag; set appVersion to that tag"],
        },
        {
            name: "production pulling a prebuilt image without the reviewed digest",
            stack: "production",
            overrides: { buildImage: "false", appVersion: "v1", registryPushPassword: undefined },
            secretKeys: withoutSecret("registryPushPassword"),
            expected: [
                `rails-stack:appImageDigest: is missing: production deploys a prebuilt image only by the digest that was reviewed, so a moved tag cannot reach it; set it to the digest staging's deploy of that version printed ("image: <image>:<tag> is sha256:<64 hex>")`,
            ],
        },
        {
            name: "building without a push credential",
            overrides: { registryPushPassword: undefined },
            secretKeys: withoutSecret("registryPushPassword"),
            expected: [
                "rails-stack:registryPushPassword: is missing: with buildImage: true Kamal pushes from the deployer with it, while the hosts get registryPassword, which should only pull; set it with: pulumi config set --secret registryPushPassword <token>",
            ],
        },
        {
            name: "a push credential where nothing is pushed",
            overrides: { buildImage: "false", appVersion: "v1" },
            expected: ["rails-stack:registryPushPassword: is set with buildImage: false, where nothing is pushed; remove it (pulumi config rm registryPushPassword)"],
        },
    ],
    "several problems at once": [
        {
            name: "one line each, namespaces first, then keys in order, then missing keys, then values",
            stack: "pr-7",
            overrides: { app: "", domian: "example.com", domain: undefined, location: JSON.stringify(["fsn1"]), registryUsername: PRIVATE_KEY, webServerType: "cx22" },
            extra: { otherNamespaces: { "rails_stack:volumeSize": plain("20"), "pulumi:template": plain("rails") } },
            expected: [
                'rails_stack:volumeSize: unknown namespace "rails_stack"; did you mean rails-stack:volumeSize?',
                "rails-stack:app: is blank, but it is required; Service name: Kamal `service`, prefix of every physical name. 2-20 chars: a-z, 0-9, '-'.",
                "rails-stack:domian: unknown key; did you mean domain?",
                "rails-stack:location: expected a single value, got a list; Hetzner location with ARM64 capacity: fsn1, nbg1 or hel1.",
                `rails-stack:registryUsername: ${ROTATE}`,
                "rails-stack:domain: is required and missing; set it with: pulumi config set domain <value>",
                'rails-stack:webServerType: "cx22" is an x86 type; only ARM64 types are allowed: cax11, cax21, cax31, cax41',
            ],
        },
    ],
};

describe("config: each class of mistake gets one line the user can act on", () => {
    for (const [mistakeClass, rows] of Object.entries(MISTAKES)) {
        describe(mistakeClass, () => {
            for (const row of rows) {
                it(row.name, () => assert.deepStrictEqual(errors(row.stack ?? "staging", row.overrides ?? {}, row.secretKeys, row.extra), row.expected));
            }
        });
    }
    it("never echoes a private key, nor puts a newline in a message", () => {
        for (const row of Object.values(MISTAKES).flat()) {
            for (const message of errors(row.stack ?? "staging", row.overrides ?? {}, row.secretKeys, row.extra)) {
                assert.ok(!message.includes("\n") && !message.includes("b3BlbnNzaC1rZXkt"), message);
            }
        }
    });
});

describe("config: what the new rules still accept", () => {
    it("takes deeper hostnames when the zone has an advanced certificate, and the apex always", () => {
        const deep = settings("staging", { hostnames: JSON.stringify(["a.b.example.com", "example.com"]), advancedCertificate: "true" });
        assert.deepStrictEqual(deep.hostnames, ["a.b.example.com", "example.com"]);
        assert.deepStrictEqual(settings("production", { hostnames: JSON.stringify(["example.com"]) }).hostnames, ["example.com"]);
        assert.deepStrictEqual(settings("pr-7", { hostnames: JSON.stringify(["a.b.example.com"]), advancedCertificate: "true" }).hostnames, [
            "pr-7-a.b.example.com",
        ]);
    });

    it("accepts Pulumi's and the providers' namespaces", () => {
        const otherNamespaces = Object.fromEntries(
            ["pulumi:template", "pulumi:disable-default-providers", "hcloud:endpoint", "cloudflare:retries", "tailscale:tailnet", "command:x"].map((k) => [k, plain("x")]),
        );
        assert.ok(parseConfig(stagingRaw({}, STAGING_SECRETS, { otherNamespaces }), "staging").ok);
    });

    it("reads blank optional keys whose default means unset as unset", () => {
        const s = settings("production", { railsEnv: "", hostnames: "", protect: "null", r2Location: " ", appVersion: "" });
        assert.deepStrictEqual([s.railsEnv, s.hostnames, s.protect, s.storage.location, s.deploy.appVersion], ["production", ["shop.example.com"], true, undefined, undefined]);
    });

    it("takes production's pinned image without a push credential, and staging's build with one", () => {
        const production = settings("production", { buildImage: "false", appVersion: "v1", appImageDigest: DIGEST, registryPushPassword: undefined });
        assert.deepStrictEqual([production.deploy.buildImage, production.deploy.appVersion, production.deploy.appImageDigest], [false, "v1", DIGEST]);
        assert.strictEqual(settings("staging").deploy.appImageDigest, undefined);
    });

    it("passes declared secrets whose values are stand-ins", () => {
        const placeholders = STAGING_SECRETS;
        const values = Object.fromEntries(STAGING_SECRETS.map((k) => [k, `placeholder-${k}`]));
        assert.ok(parseConfig(stagingRaw(values, STAGING_SECRETS, { placeholders }), "staging").ok);
    });
});
