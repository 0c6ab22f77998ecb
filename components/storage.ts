// R2 for one stack: the backups bucket (Litestream) and the attachments bucket (Active Storage),
// an API token scoped to exactly those two buckets as S3 credentials, and the rendered Litestream
// and Active Storage settings. Review stacks also get a delete-time emptier per bucket.
import { createHash } from "crypto";
import * as cloudflare from "@pulumi/cloudflare";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { R2Jurisdiction, Settings } from "../config/settings";
import { r2Endpoint, r2TokenName } from "../lib/naming";
import { R2_EMPTY_COMMAND, R2_EMPTY_ENV } from "../lib/s3";
import { activeStorageSettings, ActiveStorageSettings, renderActiveStorage } from "../renderers/active-storage";
import { renderLitestream } from "../renderers/litestream";
import { deleteStep } from "./delete-step";

/**
 * Cloudflare permission groups "Workers R2 Storage Bucket Item Read" / "... Item Write". Constant
 * across accounts (developers.cloudflare.com/r2/api/tokens/, "Permission groups"; the same ids
 * appear in many public Terraform/Pulumi configs), so no lookup invoke on every preview.
 */
export const R2_BUCKET_ITEM_READ = "6a018a9f2fc74eb6b293b0c548f38b39";
export const R2_BUCKET_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6";

/** Incomplete multipart uploads older than this are aborted by R2 itself. */
const ABORT_MULTIPART_AFTER_SECONDS = 24 * 3600;

type StorageSettings = Pick<Settings, "app" | "stack" | "kind" | "protect" | "railsEnv" | "hostnames" | "storage" | "cloudflare">;

/** The token-policy resource key of one bucket. */
export function r2BucketResource(accountId: string, jurisdiction: R2Jurisdiction, bucket: string): string {
    return `com.cloudflare.edge.r2.bucket.${accountId}_${jurisdiction}_${bucket}`;
}

/** Object read + write on exactly the given buckets, nothing else. */
export function r2TokenPolicies(accountId: string, jurisdiction: R2Jurisdiction, buckets: readonly string[]): cloudflare.types.input.AccountTokenPolicy[] {
    return [
        {
            effect: "allow",
            permissionGroups: [{ id: R2_BUCKET_ITEM_READ }, { id: R2_BUCKET_ITEM_WRITE }],
            resources: JSON.stringify(Object.fromEntries(buckets.map((b) => [r2BucketResource(accountId, jurisdiction, b), "*"]))),
        },
    ];
}

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

/** Resource options of the buckets: production's are protected against `pulumi destroy`. */
export function bucketResourceOptions(settings: Pick<Settings, "protect">): { protect: boolean } {
    return { protect: settings.protect };
}

/** Whether the stack empties its buckets at delete time (review stacks must leave nothing behind). */
export function emptiesBucketsOnDelete(settings: Pick<Settings, "kind">): boolean {
    return settings.kind === "review";
}

/**
 * The token's value, which Cloudflare returns once, at creation. Some provider releases read it
 * back empty (terraform-provider-cloudflare#5273, #5232); sha256("") would then be a silently
 * wrong S3 secret, so stop instead.
 */
export function requiredTokenValue(value: string | undefined, tokenName: string): string {
    if (!value) {
        throw new Error(
            `the Cloudflare API token ${tokenName} has an empty value in state, so its S3 secret cannot be derived (terraform-provider-cloudflare#5273); ` +
                "replace the token to mint a new value: pulumi up --replace <its URN> (pulumi stack --show-urns | grep AccountToken)",
        );
    }
    return value;
}

/** SigV4 secret of an R2 token: the SHA-256 hex of the token value. */
export const s3SecretFromTokenValue = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

export interface StorageArgs {
    /** The stack's validated settings. */
    readonly settings: StorageSettings;
}

export class Storage extends pulumi.ComponentResource {
    readonly backupsBucket: pulumi.Output<string>;
    readonly attachmentsBucket: pulumi.Output<string>;
    /** R2's S3 endpoint for the stack's jurisdiction. */
    readonly endpoint: string;
    /** S3 credentials scoped to the two buckets (both secret). */
    readonly credentials: { readonly accessKeyId: pulumi.Output<string>; readonly secretAccessKey: pulumi.Output<string> };
    /** litestream.yml, exactly as rendered for the Litestream accessory. */
    readonly litestreamConfig: pulumi.Output<string>;
    /** Values and env names Active Storage needs. */
    readonly activeStorage: pulumi.Output<ActiveStorageSettings>;
    /** The config/storage.yml service entry. */
    readonly activeStorageConfig: pulumi.Output<string>;
    /** What the app needs before it runs: both buckets and the token behind its credentials. */
    readonly forApp: readonly pulumi.Resource[];
    /** Delete-time bucket emptiers (review stacks): must run only once the hosts writing there are gone. */
    readonly emptiers: readonly pulumi.Resource[];

    constructor(name: string, args: StorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:storage:Storage", name, {}, opts);
        const { settings } = args;
        const { accountId } = settings.cloudflare;
        const { jurisdiction } = settings.storage;
        // "default" is the provider's default; left out so CORS/lifecycle match the bucket either way.
        const where = jurisdiction === "default" ? {} : { jurisdiction };
        this.endpoint = r2Endpoint(accountId, jurisdiction);

        const bucket = (role: "backups" | "attachments", bucketName: string): cloudflare.R2Bucket => {
            const b = new cloudflare.R2Bucket(
                `${name}-${role}`,
                { accountId, name: bucketName, ...where, ...(settings.storage.location ? { location: settings.storage.location } : {}) },
                { parent: this, ...bucketResourceOptions(settings) },
            );
            new cloudflare.R2BucketLifecycle(`${name}-${role}-lifecycle`, { accountId, bucketName: b.name, ...where, rules: LIFECYCLE_RULES }, { parent: this });
            return b;
        };
        const backups = bucket("backups", settings.storage.backupsBucket);
        const attachments = bucket("attachments", settings.storage.attachmentsBucket);
        new cloudflare.R2BucketCors(
            `${name}-attachments-cors`,
            { accountId, bucketName: attachments.name, ...where, rules: attachmentsCorsRules(settings.hostnames) },
            { parent: this },
        );

        const token = new cloudflare.AccountToken(
            `${name}-token`,
            {
                accountId,
                name: r2TokenName(settings),
                // Plain names, not bucket outputs: the token does not depend on the buckets, so a
                // failing token deletion on destroy cannot hold the (already emptied) buckets back.
                policies: r2TokenPolicies(accountId, jurisdiction, [settings.storage.backupsBucket, settings.storage.attachmentsBucket]),
            },
            { parent: this },
        );
        this.credentials = {
            accessKeyId: pulumi.secret(token.id),
            secretAccessKey: pulumi.secret(token.value.apply((value) => s3SecretFromTokenValue(requiredTokenValue(value, r2TokenName(settings))))),
        };

        // Each depends on its bucket and the token, so Pulumi deletes it (running the emptier) before either.
        const emptier = (role: string, b: cloudflare.R2Bucket): command.local.Command =>
            deleteStep(
                `${name}-${role}-emptier`,
                {
                    command: R2_EMPTY_COMMAND,
                    environment: {
                        [R2_EMPTY_ENV.endpoint]: this.endpoint,
                        [R2_EMPTY_ENV.bucket]: b.name,
                        [R2_EMPTY_ENV.accessKeyId]: this.credentials.accessKeyId,
                        [R2_EMPTY_ENV.secretAccessKey]: this.credentials.secretAccessKey,
                    },
                    logging: command.local.Logging.Stderr,
                },
                { parent: this, dependsOn: [b, token] },
            );
        this.emptiers = emptiesBucketsOnDelete(settings) ? [emptier("backups", backups), emptier("attachments", attachments)] : [];
        this.forApp = [backups, attachments, token];

        this.backupsBucket = backups.name;
        this.attachmentsBucket = attachments.name;
        const rendered = pulumi.all([backups.name, attachments.name]).apply(([b, a]) => {
            const activeStorage = activeStorageSettings({ bucket: a, endpoint: this.endpoint });
            return {
                litestream: renderLitestream({ railsEnv: settings.railsEnv, stack: settings.stack, bucket: b, endpoint: this.endpoint, databases: settings.storage.litestream }),
                activeStorage,
                activeStorageConfig: renderActiveStorage(activeStorage),
            };
        });
        this.litestreamConfig = rendered.litestream;
        this.activeStorage = rendered.activeStorage;
        this.activeStorageConfig = rendered.activeStorageConfig;

        this.registerOutputs({
            backupsBucket: this.backupsBucket,
            attachmentsBucket: this.attachmentsBucket,
            endpoint: this.endpoint,
            accessKeyId: this.credentials.accessKeyId,
            secretAccessKey: this.credentials.secretAccessKey,
        });
    }
}
