// Storage (issue 5): R2 buckets, scoped credentials, the Litestream and Active Storage settings.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { bucketResourceOptions, emptiesBucketsOnDelete, requiredTokenValue, Storage } from "../components/storage";
import { r2Endpoint } from "../lib/naming";
import { parseConfig } from "../config/parse";
import type { Settings } from "../config/settings";
import { recordingMocks, mockSecret } from "../plan/mocks";
import { isSecretValue, stableJson, stackConfigFromFiles } from "../plan/run";
import { databaseFiles, LITESTREAM_VERSION, litestreamConfig } from "../renderers/litestream";
import { ROOT, OkPlan, planFor, plainInputs, resourceNamed, resourcesOfType } from "./support";
import { TYPE } from "../plan/resource-types";

const LITESTREAM_BIN = path.join(ROOT, "node_modules", "@flydotio", "litestream-linux-x64", "litestream");

function settingsOf(stack: string, overrides: Record<string, string> = {}): Settings {
    const parsed = parseConfig(stackConfigFromFiles(ROOT, stack, overrides), stack);
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    return parsed.settings;
}

/** `litestream databases -config FILE` with the real v0.3.13 binary: [exit code, output]. */
function litestreamDatabases(config: string): { status: number | null; output: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "litestream-"));
    try {
        fs.writeFileSync(path.join(dir, "litestream.yml"), config);
        const run = spawnSync(LITESTREAM_BIN, ["databases", "-config", path.join(dir, "litestream.yml")], { encoding: "utf8", env: {} });
        return { status: run.status, output: `${run.stdout}${run.stderr}` };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const linuxX64 = process.platform === "linux" && process.arch === "x64";

describe("storage: Litestream config", () => {
    const plans: Record<string, OkPlan> = {};
    before(async () => {
        for (const stack of ["staging", "production", "pr-7"]) plans[stack] = await planFor(stack);
    });

    it(`the pinned binary is Litestream v${LITESTREAM_VERSION}`, function () {
        if (!linuxX64) this.skip();
        assert.strictEqual(execFileSync(LITESTREAM_BIN, ["version"], { encoding: "utf8" }).trim(), `v${LITESTREAM_VERSION}`);
    });

    for (const stack of ["staging", "production"]) {
        it(`${stack}: the real litestream binary accepts the config and lists every database`, function () {
            if (!linuxX64) this.skip(); // the npm package ships a linux-x64 binary only
            const plan = plans[stack];
            const env = plan.outputs.railsEnv as string;
            const { status, output } = litestreamDatabases(plan.artifacts["storage/litestream.yml"]);
            assert.strictEqual(status, 0, output);
            for (const file of Object.values(databaseFiles(env))) assert.match(output, new RegExp(`^/rails/storage/${file.replace(".", "\\.")}\\s+s3$`, "m"));
        });
    }

    it("the binary really validates: a broken duration fails", function () {
        if (!linuxX64) this.skip();
        const broken = plans.staging.artifacts["storage/litestream.yml"].replace("sync-interval: 1s", "sync-interval: 1x");
        assert.notStrictEqual(litestreamDatabases(broken).status, 0);
    });

    for (const [stack, overrides] of [["staging", {}], ["production", {}], ["pr-7", {}], ["staging", { railsEnv: "qa" }]] as const) {
        it(`${stack} ${JSON.stringify(overrides)}: every path's environment segment is the stack's railsEnv`, async () => {
            const plan = Object.keys(overrides).length ? await planFor(stack, overrides) : plans[stack];
            const env = plan.outputs.railsEnv as string;
            if ("railsEnv" in overrides) assert.strictEqual(env, "qa");
            const config = YAML.parse(plan.artifacts["storage/litestream.yml"]) as { dbs: { path: string; replicas: { path: string; bucket: string }[] }[] };
            assert.strictEqual(config.dbs.length, 4);
            for (const db of config.dbs) {
                const match = /^\/rails\/storage\/([a-z0-9_]+?)(?:_queue|_cache|_cable)?\.sqlite3$/.exec(db.path);
                assert.ok(match, db.path);
                assert.strictEqual(match[1], env, db.path);
                assert.strictEqual(db.replicas.length, 1);
                assert.strictEqual(db.replicas[0].bucket, plan.outputs.backupsBucket);
                assert.match(db.replicas[0].path, new RegExp(`^${stack}/(primary|queue|cache|cable)$`));
            }
        });
    }

    it("an excluded database is absent; the others keep their retention", async () => {
        const plan = await planFor("staging", { litestreamDatabases: JSON.stringify(["cache=off", "queue=5s/48h"]) });
        const config = YAML.parse(plan.artifacts["storage/litestream.yml"]) as { dbs: { path: string; replicas: Record<string, string>[] }[] };
        assert.deepStrictEqual(
            config.dbs.map((d) => [d.path, d.replicas[0]["sync-interval"], d.replicas[0].retention]),
            [
                ["/rails/storage/staging.sqlite3", "1s", "720h"],
                ["/rails/storage/staging_queue.sqlite3", "5s", "48h"],
                ["/rails/storage/staging_cable.sqlite3", "60s", "24h"],
            ],
        );
    });

    it("every replica of every committed stack snapshots daily, so a restore replays at most a day of WAL", () => {
        for (const stack of ["staging", "production", "pr-7"]) {
            const config = YAML.parse(plans[stack].artifacts["storage/litestream.yml"]) as { dbs: { replicas: Record<string, string>[] }[] };
            const replicas = config.dbs.flatMap((d) => d.replicas);
            assert.strictEqual(replicas.length, 4, stack);
            for (const replica of replicas) assert.strictEqual(replica["snapshot-interval"], "24h", `${stack} ${replica.path}`);
        }
    });

    it("holds no credentials: keys come from the environment", () => {
        for (const replica of litestreamConfig({ railsEnv: "x", stack: "s", bucket: "b", endpoint: "e", databases: settingsOf("staging").storage.litestream }).dbs.flatMap((d) => d.replicas)) {
            assert.deepStrictEqual(Object.keys(replica).filter((k) => /key|secret/i.test(k)), []);
        }
    });
});

describe("storage: R2 resources", () => {
    const plans: Record<string, OkPlan> = {};
    before(async () => {
        for (const stack of ["staging", "production", "pr-7"]) plans[stack] = await planFor(stack);
    });

    it("bucket names are per stack and never shared", () => {
        const names = (stack: string) => resourcesOfType(plans[stack], TYPE.r2Bucket).map((b) => plainInputs(b).name as string).sort();
        assert.deepStrictEqual(names("staging"), ["shop-staging-attachments", "shop-staging-backups"]);
        assert.deepStrictEqual(names("production"), ["shop-production-attachments", "shop-production-backups"]);
        assert.deepStrictEqual(names("pr-7"), ["shop-pr-7-attachments", "shop-pr-7-backups"]);
        assert.strictEqual(plans["pr-7"].outputs.backupsBucket, "shop-pr-7-backups");
    });

    it("CORS (attachments only) allows exactly the app URLs", async () => {
        for (const [plan, stack] of [[plans.production, "production"], [await planFor("staging", { hostnames: JSON.stringify(["shop.example.com", "www.example.com"]) }), "staging"]] as const) {
            const cors = resourcesOfType(plan, TYPE.r2BucketCors);
            assert.strictEqual(cors.length, 1);
            const inputs = plainInputs(cors[0]) as { bucketName: string; rules: { allowed: { origins: string[]; methods: string[] }; exposeHeaders: string[] }[] };
            assert.strictEqual(inputs.bucketName, `shop-${stack}-attachments`);
            assert.deepStrictEqual(inputs.rules[0].allowed.origins, (plan.outputs.hostnames as string[]).map((h) => `https://${h}`));
            assert.deepStrictEqual(inputs.rules[0].allowed.methods, ["GET", "HEAD", "PUT", "POST"]);
            assert.deepStrictEqual(inputs.rules[0].exposeHeaders, ["ETag"]);
        }
    });

    it("both buckets abort incomplete multipart uploads", () => {
        const rules = resourcesOfType(plans.staging, TYPE.r2BucketLifecycle).map((l) => plainInputs(l) as { bucketName: string; rules: { abortMultipartUploadsTransition?: { condition: { maxAge: number } } }[] });
        assert.deepStrictEqual(rules.map((r) => r.bucketName).sort(), ["shop-staging-attachments", "shop-staging-backups"]);
        for (const r of rules) assert.strictEqual(r.rules[0].abortMultipartUploadsTransition?.condition.maxAge, 86400);
    });

    it("a jurisdiction reaches buckets, CORS, lifecycle, token resources and the endpoint", async () => {
        const plan = await planFor("staging", { r2Jurisdiction: "eu" });
        for (const type of [TYPE.r2Bucket, TYPE.r2BucketCors, TYPE.r2BucketLifecycle]) for (const r of resourcesOfType(plan, type)) assert.strictEqual(plainInputs(r).jurisdiction, "eu", type);
        assert.strictEqual(plan.outputs.s3Endpoint, "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com");
        const policy = (plainInputs(resourcesOfType(plan, TYPE.accountToken)[0]).policies as { resources: string }[])[0];
        assert.match(policy.resources, /_eu_shop-staging-backups"/);
        assert.strictEqual(r2Endpoint("acct", "fedramp"), "https://acct.fedramp.r2.cloudflarestorage.com");
    });

    it("the token may read and write objects in this stack's two buckets and nothing else", () => {
        for (const stack of ["staging", "production", "pr-7"]) {
            const tokens = resourcesOfType(plans[stack], TYPE.accountToken);
            assert.strictEqual(tokens.length, 1);
            const inputs = plainInputs(tokens[0]) as { name: string; policies: { effect: string; permissionGroups: { id: string }[]; resources: string }[] };
            assert.strictEqual(inputs.name, `shop-${stack}-r2`);
            assert.strictEqual(inputs.policies.length, 1);
            assert.strictEqual(inputs.policies[0].effect, "allow");
            assert.deepStrictEqual(inputs.policies[0].permissionGroups.map((g) => g.id), ["6a018a9f2fc74eb6b293b0c548f38b39", "2efd5506f9c8494dacb1fa10a3e7d5b6"]);
            const account = "0123456789abcdef0123456789abcdef";
            assert.deepStrictEqual(JSON.parse(inputs.policies[0].resources), {
                [`com.cloudflare.edge.r2.bucket.${account}_default_shop-${stack}-backups`]: "*",
                [`com.cloudflare.edge.r2.bucket.${account}_default_shop-${stack}-attachments`]: "*",
            });
        }
    });

    it("the S3 secret is sha256(token value), the key id the token id; both secret", async () => {
        const settings = settingsOf("production");
        await pulumi.runtime.setMocks(recordingMocks([], []), "rails-stack", "production", false);
        const storage = new Storage("t", { settings });
        const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply((v) => (resolve(v), v)));
        const expected = createHash("sha256").update(mockSecret("api-token", "t-token")).digest("hex");
        assert.strictEqual(await value(storage.credentials.secretAccessKey), expected);
        assert.match(await value(storage.credentials.accessKeyId), /^[0-9a-f]{32}$/);
        assert.strictEqual(await pulumi.isSecret(storage.credentials.secretAccessKey), true);
        assert.strictEqual(await pulumi.isSecret(storage.credentials.accessKeyId), true);
        assert.strictEqual(await pulumi.isSecret(storage.litestreamConfig), false);
    });

    it("production buckets are protected; staging and review buckets are not", () => {
        assert.deepStrictEqual(bucketResourceOptions(settingsOf("production")), { protect: true });
        assert.deepStrictEqual(bucketResourceOptions(settingsOf("staging")), { protect: false });
        assert.deepStrictEqual(bucketResourceOptions(settingsOf("pr-7")), { protect: false });
    });

    it("pr-7 empties both buckets at delete time with its own secret credentials; persistent stacks do not", () => {
        const emptiers = (stack: string) => resourcesOfType(plans[stack], TYPE.command).filter((c) => c.name.startsWith(`shop-${stack}-storage-`));
        assert.deepStrictEqual(emptiers("staging"), []);
        assert.deepStrictEqual(emptiers("production"), []);
        assert.deepStrictEqual(emptiers("pr-7").map((c) => c.name).sort(), ["shop-pr-7-storage-attachments-emptier", "shop-pr-7-storage-backups-emptier"]);
        assert.strictEqual(emptiesBucketsOnDelete(settingsOf("production")), false);
        const token = resourceNamed(plans["pr-7"], TYPE.accountToken, "shop-pr-7-storage-token");
        const secret = createHash("sha256").update(mockSecret("api-token", token.name)).digest("hex");
        for (const role of ["backups", "attachments"]) {
            const emptier = resourceNamed(plans["pr-7"], TYPE.command, `shop-pr-7-storage-${role}-emptier`);
            const inputs = plainInputs(emptier) as { create?: string; delete: string; environment: Record<string, string> };
            assert.strictEqual(inputs.create, undefined);
            assert.strictEqual(inputs.delete, "node launch.js components/scripts/r2-empty");
            assert.ok(fs.existsSync(path.join(ROOT, "components", "scripts", "r2-empty.ts")));
            assert.ok(isSecretValue(emptier.inputs.environment), "the emptier's environment is secret");
            assert.deepStrictEqual(inputs.environment, {
                R2_EMPTY_ENDPOINT: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
                R2_EMPTY_BUCKET: `shop-pr-7-${role}`,
                R2_EMPTY_ACCESS_KEY_ID: plans["pr-7"].outputs.s3AccessKeyId,
                R2_EMPTY_SECRET_ACCESS_KEY: secret,
            });
        }
    });

    it("no key or token value appears in plan.json or any artifact", () => {
        for (const [stack, plan] of Object.entries(plans)) {
            const text = [stableJson(plan.entries), ...Object.values(plan.artifacts)].join("\n");
            const tokenValue = mockSecret("api-token", `shop-${stack}-storage-token`);
            for (const secret of [tokenValue, String(plan.outputs.s3AccessKeyId), String(plan.outputs.s3SecretAccessKey)]) {
                assert.ok(secret.length >= 32 && !text.includes(secret), `${stack}: ${secret.slice(0, 6)}... leaked`);
            }
        }
    });

    it("active storage settings name the attachments bucket and the key env vars, never values", () => {
        const doc = plans.production.artifacts["storage/active-storage.yml"];
        const parsed = YAML.parse(doc) as { r2: Record<string, unknown> };
        assert.deepStrictEqual(parsed.r2, {
            service: "S3",
            access_key_id: '<%= ENV.fetch("R2_ACCESS_KEY_ID") %>',
            secret_access_key: '<%= ENV.fetch("R2_SECRET_ACCESS_KEY") %>',
            region: "auto",
            bucket: '<%= ENV.fetch("R2_BUCKET") %>',
            endpoint: '<%= ENV.fetch("R2_ENDPOINT") %>',
            force_path_style: true,
            request_checksum_calculation: "when_required",
            response_checksum_validation: "when_required",
        });
        assert.match(doc, /^# R2_BUCKET=shop-production-attachments$/m);
    });
});

describe("storage: the scoped token's value", () => {
    it("an empty value read back from the provider stops the update instead of deriving sha256('')", () => {
        assert.throws(
            () => requiredTokenValue("", "shop-staging-r2"),
            /^Error: the Cloudflare API token shop-staging-r2 has an empty value in state, so its S3 secret cannot be derived \(terraform-provider-cloudflare#5273\); replace the token to mint a new value: pulumi up --replace <its URN>/,
        );
        assert.throws(() => requiredTokenValue(undefined, "shop-staging-r2"), /empty value/);
        assert.strictEqual(requiredTokenValue("v", "shop-staging-r2"), "v");
    });
});
