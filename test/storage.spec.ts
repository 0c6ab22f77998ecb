// Storage: R2 buckets (own, the review pool, production's lock), the key pairs from config, the Litestream and Active Storage settings.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { backupsLockRules, bucketResourceOptions, emptiesBucketsOnDelete } from "../components/storage";
import { r2Endpoint } from "../lib/naming";
import { parseConfig } from "../config/parse";
import type { Settings } from "../config/settings";
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

    it("production and staging have their own two buckets, staging also the review pool; review stacks create none", () => {
        const names = (stack: string) => resourcesOfType(plans[stack], TYPE.r2Bucket).map((b) => plainInputs(b).name as string).sort();
        assert.deepStrictEqual(names("staging"), ["shop-review-attachments", "shop-review-backups", "shop-staging-attachments", "shop-staging-backups"]);
        assert.deepStrictEqual(names("production"), ["shop-production-attachments", "shop-production-backups"]);
        assert.deepStrictEqual(names("pr-7"), []);
        assert.strictEqual(plans["pr-7"].outputs.backupsBucket, "shop-review-backups");
        assert.strictEqual(plans["pr-7"].outputs.attachmentsBucket, "shop-review-attachments");
        // Each review stack replicates under its own prefix of the pool.
        const replicas = (YAML.parse(plans["pr-7"].artifacts["storage/litestream.yml"]) as { dbs: { replicas: { bucket: string; path: string }[] }[] }).dbs.flatMap((d) => d.replicas);
        assert.ok(replicas.every((r) => r.bucket === "shop-review-backups" && r.path.startsWith("pr-7/")), JSON.stringify(replicas));
    });

    it("CORS (attachments only) allows exactly the app URLs; the review pool, its hosts one label under the zone", async () => {
        for (const [plan, stack] of [[plans.production, "production"], [await planFor("staging", { hostnames: JSON.stringify(["shop.example.com", "www.example.com"]) }), "staging"]] as const) {
            const cors = resourcesOfType(plan, TYPE.r2BucketCors).map((c) => plainInputs(c) as { bucketName: string; rules: { allowed: { origins: string[]; methods: string[] }; exposeHeaders: string[] }[] });
            const own = cors.find((c) => c.bucketName === `shop-${stack}-attachments`)!;
            assert.deepStrictEqual(own.rules[0].allowed.origins, (plan.outputs.hostnames as string[]).map((h) => `https://${h}`));
            assert.deepStrictEqual(own.rules[0].allowed.methods, ["GET", "HEAD", "PUT", "POST"]);
            assert.deepStrictEqual(own.rules[0].exposeHeaders, ["ETag"]);
            assert.deepStrictEqual(cors.map((c) => c.bucketName).sort(), stack === "staging" ? ["shop-review-attachments", "shop-staging-attachments"] : ["shop-production-attachments"]);
        }
        const pool = resourcesOfType(plans.staging, TYPE.r2BucketCors).map((c) => plainInputs(c) as { bucketName: string; rules: { allowed: { origins: string[] } }[] }).find((c) => c.bucketName === "shop-review-attachments")!;
        assert.deepStrictEqual(pool.rules[0].allowed.origins, ["https://*.example.com"]);
    });

    it("every bucket aborts incomplete multipart uploads; the review pool also expires what is left in it", () => {
        const rules = resourcesOfType(plans.staging, TYPE.r2BucketLifecycle).map((l) => plainInputs(l) as { bucketName: string; rules: { id: string; abortMultipartUploadsTransition?: { condition: { maxAge: number } }; deleteObjectsTransition?: { condition: { maxAge: number } } }[] });
        assert.deepStrictEqual(rules.map((r) => r.bucketName).sort(), ["shop-review-attachments", "shop-review-backups", "shop-staging-attachments", "shop-staging-backups"]);
        for (const r of rules) assert.strictEqual(r.rules[0].abortMultipartUploadsTransition?.condition.maxAge, 86400);
        for (const r of rules) {
            const expiry = r.rules.find((rule) => rule.deleteObjectsTransition)?.deleteObjectsTransition?.condition.maxAge;
            assert.strictEqual(expiry, r.bucketName.startsWith("shop-review-") ? 14 * 86400 : undefined, r.bucketName);
        }
    });

    it("production's backups are locked per database for retention minus snapshot interval, which Litestream's own clean-up never reaches", () => {
        const [lock] = resourcesOfType(plans.production, TYPE.r2BucketLock).map(plainInputs) as { bucketName: string; rules: { id: string; prefix: string; enabled: boolean; condition: { type: string; maxAgeSeconds: number } }[] }[];
        assert.strictEqual(lock.bucketName, "shop-production-backups");
        assert.deepStrictEqual(lock.rules, [
            { id: "keep-primary-replicas", enabled: true, prefix: "production/primary/", condition: { type: "Age", maxAgeSeconds: (720 - 24) * 3600 } },
            { id: "keep-queue-replicas", enabled: true, prefix: "production/queue/", condition: { type: "Age", maxAgeSeconds: (168 - 24) * 3600 } },
        ]);
        assert.strictEqual(plans.production.options.get(`${TYPE.r2BucketLock}::shop-production-storage-backups-lock`)?.protect, true);
        assert.deepStrictEqual(resourcesOfType(plans.staging, TYPE.r2BucketLock), [], "staging's and the review pool's stay deletable");
        assert.deepStrictEqual(backupsLockRules({ stack: "production", storage: settingsOf("production", { litestreamDatabases: JSON.stringify(["cache=60s/72h"]) }).storage }).map((r) => r.id), ["keep-primary-replicas", "keep-queue-replicas", "keep-cache-replicas"]);
    });

    it("a jurisdiction reaches buckets, CORS, lifecycle and the endpoint", async () => {
        const plan = await planFor("staging", { r2Jurisdiction: "eu" });
        for (const type of [TYPE.r2Bucket, TYPE.r2BucketCors, TYPE.r2BucketLifecycle]) for (const r of resourcesOfType(plan, type)) assert.strictEqual(plainInputs(r).jurisdiction, "eu", type);
        assert.strictEqual(plan.outputs.s3Endpoint, "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com");
        assert.strictEqual(r2Endpoint("acct", "fedramp"), "https://acct.fedramp.r2.cloudflarestorage.com");
    });

    it("no stack mints a credential: no API token resource, and each purpose's key pair comes from its own config keys", () => {
        for (const plan of Object.values(plans)) {
            assert.deepStrictEqual(plan.resources.filter((r) => /ApiToken|AccountToken/.test(r.type)), []);
            const [command] = resourcesOfType(plan, TYPE.command).filter((c) => c.name.endsWith("-deploy-kamal"));
            const env = plainInputs(command).environment as Record<string, string>;
            // The app's pair is not Litestream's: the app cannot reach the backups.
            assert.notStrictEqual(env.R2_ACCESS_KEY_ID, env.LITESTREAM_ACCESS_KEY_ID, plan.stack);
            const keys = plan.stack.startsWith("pr-") ? ["reviewR2AttachmentsAccessKeyId", "reviewR2BackupsAccessKeyId"] : ["r2AttachmentsAccessKeyId", "r2BackupsAccessKeyId"];
            assert.deepStrictEqual([env.R2_ACCESS_KEY_ID, env.LITESTREAM_ACCESS_KEY_ID], keys.map((k) => `placeholder-${k}`), plan.stack);
        }
    });

    it("production buckets are protected; staging and review buckets are not", () => {
        assert.deepStrictEqual(bucketResourceOptions(settingsOf("production")), { protect: true });
        assert.deepStrictEqual(bucketResourceOptions(settingsOf("staging")), { protect: false });
        assert.deepStrictEqual(bucketResourceOptions(settingsOf("pr-7")), { protect: false });
    });

    it("pr-7 empties its own share of the review pool at delete time, with Litestream's secret pair; persistent stacks do not", () => {
        const emptiers = (stack: string) => resourcesOfType(plans[stack], TYPE.command).filter((c) => c.name.startsWith(`shop-${stack}-storage-`));
        assert.deepStrictEqual(emptiers("staging"), []);
        assert.deepStrictEqual(emptiers("production"), []);
        assert.deepStrictEqual(emptiers("pr-7").map((c) => c.name), ["shop-pr-7-storage-backups-emptier"]);
        assert.strictEqual(emptiesBucketsOnDelete(settingsOf("production")), false);
        const emptier = resourceNamed(plans["pr-7"], TYPE.command, "shop-pr-7-storage-backups-emptier");
        const inputs = plainInputs(emptier) as { create?: string; delete: string; environment: Record<string, string> };
        assert.strictEqual(inputs.create, undefined);
        assert.strictEqual(inputs.delete, "node launch.js components/scripts/r2-empty");
        assert.ok(fs.existsSync(path.join(ROOT, "components", "scripts", "r2-empty.ts")));
        assert.ok(isSecretValue(emptier.inputs.environment), "the emptier's environment, with its pair, is secret");
        assert.deepStrictEqual(inputs.environment, {
            R2_EMPTY_ENDPOINT: "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
            R2_EMPTY_BUCKET: "shop-review-backups",
            R2_EMPTY_PREFIX: "pr-7/",
            R2_EMPTY_ACCESS_KEY_ID: "placeholder-reviewR2BackupsAccessKeyId",
            R2_EMPTY_SECRET_ACCESS_KEY: "placeholder-reviewR2BackupsSecretAccessKey",
        });
    });

    it("no key value appears in plan.json or any artifact", () => {
        for (const [stack, plan] of Object.entries(plans)) {
            const text = [stableJson(plan.entries), ...Object.values(plan.artifacts)].join("\n");
            for (const key of ["r2AttachmentsSecretAccessKey", "r2BackupsSecretAccessKey", "reviewR2AttachmentsSecretAccessKey", "reviewR2BackupsSecretAccessKey"]) {
                assert.ok(!text.includes(`placeholder-${key}`), `${stack}: ${key} leaked`);
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
