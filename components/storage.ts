// R2 for one stack. Production and staging: their own backups bucket (Litestream) and attachments
// bucket (Active Storage), production's backups under a lock that keeps recent replicas from being
// deleted by anyone; staging also creates the review pool, the two buckets every review stack uses
// under its own prefix. Review stacks create no bucket: a delete-time emptier removes their share
// of the pool. No credential is minted here: each purpose's key pair, scoped to its one bucket, comes
// from the stack config (npm run r2-credentials mints them; docs/storage.md, "Credentials").
import * as cloudflare from "@pulumi/cloudflare";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { S3KeyPair } from "../config/load";
import { DATABASE_NAMES, Settings } from "../config/settings";
import { goDurationMs } from "../lib/duration";
import { r2Endpoint } from "../lib/naming";
import { R2_EMPTY_COMMAND, R2_EMPTY_ENV } from "../lib/s3";
import { activeStorageSettings, ActiveStorageSettings, renderActiveStorage } from "../renderers/active-storage";
import { renderLitestream } from "../renderers/litestream";
import { deleteStep } from "./delete-step";

/** Incomplete multipart uploads older than this are aborted by R2 itself. */
const ABORT_MULTIPART_AFTER_SECONDS = 24 * 3600;

type StorageSettings = Pick<Settings, "app" | "stack" | "kind" | "protect" | "railsEnv" | "hostnames" | "domain" | "storage" | "cloudflare">;

/** Browser direct uploads (Rails' DirectUpload) from the app's own origins only. */
export function attachmentsCorsRules(hostnames: readonly string[]): cloudflare.types.input.R2BucketCorsRule[] {
    return [
        {
            id: "rails-direct-upload",
            allowed: {
                origins: hostnames.map((h) => `https://${h}`),
                methods: ["GET", "HEAD", "PUT", "POST"],
                // What ActiveStorage's direct upload sends (Rails guides, "CORS configuration").
                headers: ["Content-Type", "Content-MD5", "Content-Disposition"],
            },
            exposeHeaders: ["ETag"],
            maxAgeSeconds: 3600,
        },
    ];
}

export const LIFECYCLE_RULES: cloudflare.types.input.R2BucketLifecycleRule[] = [
    {
        id: "abort-incomplete-multipart-uploads",
        enabled: true,
        conditions: { prefix: "" },
        abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: ABORT_MULTIPART_AFTER_SECONDS } },
    },
];

/** The review pool's rules: besides aborting uploads, R2 deletes whatever a review stack left there after `days`. */
export function reviewPoolLifecycleRules(days: number): cloudflare.types.input.R2BucketLifecycleRule[] {
    return [
        ...LIFECYCLE_RULES,
        { id: "expire-review-objects", enabled: true, conditions: { prefix: "" }, deleteObjectsTransition: { condition: { type: "Age", maxAge: days * 86400 } } },
    ];
}

/**
 * Production's backups lock: per replicated database, objects under `<stack>/<db>/` cannot be deleted
 * or overwritten until they are `retention - snapshot-interval` old. Litestream 0.3.13 deletes, in
 * normal operation, only snapshots older than the retention and WAL segments older than the oldest
 * snapshot it keeps, itself at least that old (replica.go `EnforceRetention`), so the lock never
 * blocks it; what it blocks is anyone deleting recent replicas: the app, a leaked key, a mistake. A
 * database whose retention is not longer than its snapshot interval (cache, cable by default) gets
 * no rule. Litestream writes each object once under a new name, so nothing it does overwrites.
 */
export function backupsLockRules(settings: Pick<Settings, "stack" | "storage">): cloudflare.types.input.R2BucketLockRule[] {
    return DATABASE_NAMES.flatMap((db) => {
        const replication = settings.storage.litestream[db];
        if (!replication) return [];
        const seconds = ((goDurationMs(replication.retention) ?? 0) - (goDurationMs(replication.snapshotInterval) ?? 0)) / 1000;
        if (seconds <= 0) return [];
        return [{ id: `keep-${db}-replicas`, enabled: true, prefix: `${settings.stack}/${db}/`, condition: { type: "Age", maxAgeSeconds: seconds } }];
    });
}

/** Resource options of the buckets: production's are protected against `pulumi destroy`. */
export function bucketResourceOptions(settings: Pick<Settings, "protect">): { protect: boolean } {
    return { protect: settings.protect };
}

/** Whether the stack empties its share of the buckets at delete time (review stacks must leave nothing behind). */
export function emptiesBucketsOnDelete(settings: Pick<Settings, "kind">): boolean {
    return settings.kind === "review";
}

export interface StorageArgs {
    /** The stack's validated settings. */
    readonly settings: StorageSettings;
    /** Litestream's key pair, scoped to the backups bucket: a review stack's emptier deletes its share with it. */
    readonly backupsCredentials: S3KeyPair;
}

export class Storage extends pulumi.ComponentResource {
    readonly backupsBucket: pulumi.Output<string>;
    readonly attachmentsBucket: pulumi.Output<string>;
    /** R2's S3 endpoint for the stack's jurisdiction. */
    readonly endpoint: string;
    /** litestream.yml, exactly as rendered for the Litestream accessory. */
    readonly litestreamConfig: pulumi.Output<string>;
    /** Values and env names Active Storage needs. */
    readonly activeStorage: pulumi.Output<ActiveStorageSettings>;
    /** The config/storage.yml service entry. */
    readonly activeStorageConfig: pulumi.Output<string>;
    /** What the app needs before it runs: the stack's buckets (and their lock). None on review stacks: the pool is staging's. */
    readonly forApp: readonly pulumi.Resource[];
    /** Delete-time emptiers (review stacks): must run only once the host writing there is gone. */
    readonly emptiers: readonly pulumi.Resource[];

    constructor(name: string, args: StorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:storage:Storage", name, {}, opts);
        const { settings } = args;
        const { accountId } = settings.cloudflare;
        const { jurisdiction } = settings.storage;
        // "default" is the provider's default; left out so CORS/lifecycle match the bucket either way.
        const where = jurisdiction === "default" ? {} : { jurisdiction };
        this.endpoint = r2Endpoint(accountId, jurisdiction);
        const child = { parent: this };

        const bucket = (role: string, bucketName: string, rules: cloudflare.types.input.R2BucketLifecycleRule[], options: pulumi.CustomResourceOptions): cloudflare.R2Bucket => {
            const b = new cloudflare.R2Bucket(
                `${name}-${role}`,
                { accountId, name: bucketName, ...where, ...(settings.storage.location ? { location: settings.storage.location } : {}) },
                { ...child, ...options },
            );
            new cloudflare.R2BucketLifecycle(`${name}-${role}-lifecycle`, { accountId, bucketName: b.name, ...where, rules }, child);
            return b;
        };
        const cors = (role: string, b: cloudflare.R2Bucket, origins: readonly string[]): void =>
            void new cloudflare.R2BucketCors(`${name}-${role}-cors`, { accountId, bucketName: b.name, ...where, rules: attachmentsCorsRules(origins) }, child);

        const owned: pulumi.Resource[] = [];
        if (settings.kind !== "review") {
            const backups = bucket("backups", settings.storage.backupsBucket, LIFECYCLE_RULES, bucketResourceOptions(settings));
            const attachments = bucket("attachments", settings.storage.attachmentsBucket, LIFECYCLE_RULES, bucketResourceOptions(settings));
            cors("attachments", attachments, settings.hostnames);
            owned.push(backups, attachments);
            if (settings.kind === "production") {
                owned.push(new cloudflare.R2BucketLock(`${name}-backups-lock`, { accountId, bucketName: backups.name, ...where, rules: backupsLockRules(settings) }, { ...child, ...bucketResourceOptions(settings) }));
            }
        }
        const pool = settings.storage.reviewPool;
        if (pool) {
            // Staging keeps the review stacks' buckets: their own runs hold no credential that could make one.
            bucket("review-backups", pool.backupsBucket, reviewPoolLifecycleRules(pool.expiryDays), {});
            const reviewAttachments = bucket("review-attachments", pool.attachmentsBucket, reviewPoolLifecycleRules(pool.expiryDays), {});
            // Review hosts are one label under the zone (pr-<n>-...): S3's one-wildcard origin form.
            cors("review-attachments", reviewAttachments, [`*.${settings.domain}`]);
        }
        this.forApp = owned;
        this.emptiers = emptiesBucketsOnDelete(settings)
            ? [
                  deleteStep(
                      `${name}-backups-emptier`,
                      {
                          command: R2_EMPTY_COMMAND,
                          environment: {
                              [R2_EMPTY_ENV.endpoint]: this.endpoint,
                              [R2_EMPTY_ENV.bucket]: settings.storage.backupsBucket,
                              // Litestream writes under <stack>/<db>: this stack's share of the pool.
                              [R2_EMPTY_ENV.prefix]: `${settings.stack}/`,
                              [R2_EMPTY_ENV.accessKeyId]: pulumi.secret(args.backupsCredentials.accessKeyId),
                              [R2_EMPTY_ENV.secretAccessKey]: pulumi.secret(args.backupsCredentials.secretAccessKey),
                          },
                          logging: command.local.Logging.Stderr,
                      },
                      child,
                  ),
              ]
            : [];

        this.backupsBucket = pulumi.output(settings.storage.backupsBucket);
        this.attachmentsBucket = pulumi.output(settings.storage.attachmentsBucket);
        const activeStorage = activeStorageSettings({ bucket: settings.storage.attachmentsBucket, endpoint: this.endpoint });
        this.litestreamConfig = pulumi.output(
            renderLitestream({ railsEnv: settings.railsEnv, stack: settings.stack, bucket: settings.storage.backupsBucket, endpoint: this.endpoint, databases: settings.storage.litestream }),
        );
        this.activeStorage = pulumi.output(activeStorage);
        this.activeStorageConfig = pulumi.output(renderActiveStorage(activeStorage));

        this.registerOutputs({ backupsBucket: this.backupsBucket, attachmentsBucket: this.attachmentsBucket, endpoint: this.endpoint });
    }
}
