// Litestream's configuration: a pure function of plain data, so the file the Kamal accessory ships
// is the same bytes the offline plan writes and the tests feed to the real binary.
import * as YAML from "yaml";
import { DATABASE_NAMES, DatabaseName, Replication, Settings } from "../config/settings";
import { r2Endpoint } from "../lib/naming";
import { STORAGE_CONTAINER_PATH } from "../lib/paths";

/** The Litestream release this file format targets (v0.3: `replicas:` list, generations). */
export const LITESTREAM_VERSION = "0.3.13";
/**
 * The accessory image that runs it: that release, by the digest of its multi-platform index (the
 * release workflow pushes linux/amd64, arm64 and arm/v7), so a re-pushed tag cannot change what runs:
 * Docker pulls and resolves `name:tag@digest` by the digest alone. The digest is the one public pins of
 * this tag record (code search: Renovate-maintained `container_images` of randomcoww/homelab, and two
 * other repositories' Dockerfile and compose notes, all `docker.io/litestream/litestream:0.3.13@sha256:027eda2a...`);
 * Docker Hub itself is out of this machine's reach. docs/hosts.md, "Images by digest".
 */
export const LITESTREAM_IMAGE = `litestream/litestream:${LITESTREAM_VERSION}@sha256:027eda2a89a86015b9797d2129d4dd447e8953097b4190e1d5a30b73e76d8d58`;
/**
 * Env vars Litestream 0.3 reads the S3 credentials from when the config has none (it copies them
 * to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY at start-up). Names only: values never enter the file.
 */
export const LITESTREAM_ENV = {
    accessKeyId: "LITESTREAM_ACCESS_KEY_ID",
    secretAccessKey: "LITESTREAM_SECRET_ACCESS_KEY",
} as const;

/** Rails 8's default SQLite file names for one environment (config/database.yml of `rails new`). */
export function databaseFiles(railsEnv: string): Record<DatabaseName, string> {
    return {
        primary: `${railsEnv}.sqlite3`,
        queue: `${railsEnv}_queue.sqlite3`,
        cache: `${railsEnv}_cache.sqlite3`,
        cable: `${railsEnv}_cable.sqlite3`,
    };
}

export interface LitestreamInput {
    /** RAILS_ENV: the only source of the database file names. */
    readonly railsEnv: string;
    /** Stack name: first segment of every replica path inside the bucket. */
    readonly stack: string;
    /** The backups bucket. */
    readonly bucket: string;
    /** R2's S3 endpoint for the bucket's jurisdiction. */
    readonly endpoint: string;
    /** Per database: sync interval and retention, or null when it is not replicated. */
    readonly databases: Readonly<Record<DatabaseName, Replication | null>>;
}

export interface LitestreamReplica {
    readonly type: "s3";
    readonly bucket: string;
    readonly path: string;
    readonly endpoint: string;
    readonly region: string;
    readonly "force-path-style": boolean;
    readonly "sync-interval": string;
    readonly "snapshot-interval": string;
    readonly retention: string;
}

export interface LitestreamConfig {
    readonly dbs: readonly { readonly path: string; readonly replicas: readonly LitestreamReplica[] }[];
}

/** The config as data: one entry per replicated database, in Rails' order. */
export function litestreamConfig(input: LitestreamInput): LitestreamConfig {
    const files = databaseFiles(input.railsEnv);
    const dbs = DATABASE_NAMES.flatMap((db) => {
        const replication = input.databases[db];
        if (!replication) return [];
        return [
            {
                path: `${STORAGE_CONTAINER_PATH}/${files[db]}`,
                replicas: [
                    {
                        type: "s3" as const,
                        bucket: input.bucket,
                        path: `${input.stack}/${db}`,
                        endpoint: input.endpoint,
                        // R2 ignores regions; "auto" is what its S3 API documents for signing.
                        region: "auto",
                        // Path-style keeps the bucket out of the TLS host name (R2 serves both).
                        "force-path-style": true,
                        "sync-interval": replication.syncInterval,
                        // A full snapshot this often bounds the WAL a restore replays (docs/storage.md).
                        "snapshot-interval": replication.snapshotInterval,
                        retention: replication.retention,
                    },
                ],
            },
        ];
    });
    return { dbs };
}

/** litestream.yml as shipped to the accessory. */
export function renderLitestream(input: LitestreamInput): string {
    const doc = new YAML.Document(litestreamConfig(input));
    doc.commentBefore = ` Litestream ${LITESTREAM_VERSION}. Credentials come from ${LITESTREAM_ENV.accessKeyId} / ${LITESTREAM_ENV.secretAccessKey}.`;
    return doc.toString();
}

/** The renderer's input for a stack, from its settings alone (what the offline tools render). */
export const litestreamInput = (settings: Pick<Settings, "railsEnv" | "stack" | "storage" | "cloudflare">): LitestreamInput => ({
    railsEnv: settings.railsEnv,
    stack: settings.stack,
    bucket: settings.storage.backupsBucket,
    endpoint: r2Endpoint(settings.cloudflare.accountId, settings.storage.jurisdiction),
    databases: settings.storage.litestream,
});
