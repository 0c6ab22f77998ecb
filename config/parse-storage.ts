// Storage settings of a stack: its buckets (its own on production and staging, the review pool
// staging creates on review stacks), the presence of the R2 key pairs each purpose needs (minted by
// npm run r2-credentials, never by pulumi up), and Litestream's table. Part of parseConfig.
import { KEYS, KeyName } from "./keys";
import { Problems } from "./problems";
import { defaultOf, list, MAX_LABEL, Reader, show } from "./reader";
import { DATABASE_NAMES, DatabaseName, R2Jurisdiction, R2Location, Replication, Settings, StackKind } from "./settings";
import { goDurationMs } from "../lib/duration";

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const R2_LOCATIONS: readonly R2Location[] = ["apac", "eeur", "enam", "weur", "wnam", "oc"];
const R2_JURISDICTIONS: readonly R2Jurisdiction[] = ["default", "eu", "fedramp"];
const R2_STORED_GB = { min: 0, max: 1_000_000 } as const;
const REVIEW_POOL_DAYS = { min: 1, max: 365 } as const;
const DEFAULT_SNAPSHOT_INTERVAL = KEYS.litestreamSnapshotInterval.default;
export const DEFAULT_REPLICATION: Readonly<Record<DatabaseName, Replication>> = {
    primary: { syncInterval: "1s", retention: "720h", snapshotInterval: DEFAULT_SNAPSHOT_INTERVAL },
    queue: { syncInterval: "1s", retention: "168h", snapshotInterval: DEFAULT_SNAPSHOT_INTERVAL },
    cache: { syncInterval: "60s", retention: "24h", snapshotInterval: DEFAULT_SNAPSHOT_INTERVAL },
    cable: { syncInterval: "60s", retention: "24h", snapshotInterval: DEFAULT_SNAPSHOT_INTERVAL },
};

/** The R2 key pairs of a stack, by purpose: the config keys that hold them (staging carries the review pool's too). */
export const R2_CREDENTIAL_KEYS = {
    own: {
        attachments: { accessKeyId: "r2AttachmentsAccessKeyId", secretAccessKey: "r2AttachmentsSecretAccessKey" },
        backups: { accessKeyId: "r2BackupsAccessKeyId", secretAccessKey: "r2BackupsSecretAccessKey" },
    },
    review: {
        attachments: { accessKeyId: "reviewR2AttachmentsAccessKeyId", secretAccessKey: "reviewR2AttachmentsSecretAccessKey" },
        backups: { accessKeyId: "reviewR2BackupsAccessKeyId", secretAccessKey: "reviewR2BackupsSecretAccessKey" },
    },
} as const satisfies Record<"own" | "review", Record<"attachments" | "backups", Record<"accessKeyId" | "secretAccessKey", KeyName>>>;

/** The key pairs a stack of this kind deploys with: review stacks use the review pool's. */
export const credentialKeysOf = (kind: StackKind) => (kind === "review" ? R2_CREDENTIAL_KEYS.review : R2_CREDENTIAL_KEYS.own);

export function parseLitestream(
    read: Reader,
    problems: Problems,
    kind: StackKind | undefined,
): Record<DatabaseName, Replication | null> {
    const overrides = read.stringArray("litestreamDatabases") ?? [];
    const table: Record<DatabaseName, Replication | null> = { ...DEFAULT_REPLICATION };
    const seen = new Set<string>();
    overrides.forEach((entry, i) => {
        const key = `litestreamDatabases[${i}]`;
        const match = /^([^=]+)=(?:(off)|([^/]+)\/(.+))$/.exec(entry);
        if (!match) {
            problems.add(key, `${show(entry)} is malformed; write '<db>=<sync interval>/<retention>' or '<db>=off', e.g. 'cache=60s/24h'`);
            return;
        }
        const [, db, off, sync, retention] = match;
        if (!(DATABASE_NAMES as readonly string[]).includes(db)) {
            problems.add(key, `unknown database ${show(db)}; allowed: ${list(DATABASE_NAMES)}`);
            return;
        }
        if (seen.has(db)) {
            problems.add(key, `database ${show(db)} is listed twice`);
            return;
        }
        seen.add(db);
        if (off) {
            if (db === "primary" && kind === "production") {
                problems.add(key, `the production primary database must be replicated; allowed: primary=<sync>/<retention>`);
            }
            table[db as DatabaseName] = null;
            return;
        }
        const syncMs = goDurationMs(sync);
        const retentionMs = goDurationMs(retention);
        if (syncMs === undefined || syncMs <= 0) {
            problems.add(key, `sync interval ${show(sync)} is not a positive duration; use e.g. 1s, 60s, 5m`);
        }
        if (retentionMs === undefined || retentionMs <= 0) {
            problems.add(key, `retention ${show(retention)} is not a positive duration; use e.g. 24h, 720h`);
        }
        if (syncMs !== undefined && retentionMs !== undefined && retentionMs < syncMs) {
            problems.add(key, `retention ${retention} is shorter than the sync interval ${sync}; retention must be at least the sync interval`);
        }
        table[db as DatabaseName] = { syncInterval: sync, retention, snapshotInterval: DEFAULT_SNAPSHOT_INTERVAL };
    });
    return withSnapshotInterval(read, problems, table);
}

/**
 * Every replica snapshots at `litestreamSnapshotInterval` (Litestream 0.3.13 replica.go
 * `snapshotter`: unconditionally, on a ticker), so a restore replays at most that much WAL. Capped
 * at each database's retention: retention enforcement snapshots anyway once none is left inside
 * the window (`EnforceRetention`), so a longer interval would only be misleading.
 */
function withSnapshotInterval(
    read: Reader,
    problems: Problems,
    table: Readonly<Record<DatabaseName, Replication | null>>,
): Record<DatabaseName, Replication | null> {
    const interval = read.string("litestreamSnapshotInterval") ?? DEFAULT_SNAPSHOT_INTERVAL;
    const intervalMs = goDurationMs(interval);
    const replicated = DATABASE_NAMES.flatMap((db) => (table[db] ? [[db, table[db]] as const] : []));
    if (intervalMs === undefined || intervalMs <= 0) {
        problems.add("litestreamSnapshotInterval", `${show(interval)} is not a positive duration; use e.g. 12h, 24h`);
        return { ...table };
    }
    const faster = replicated.find(([, r]) => intervalMs < (goDurationMs(r.syncInterval) ?? 0));
    if (faster) {
        problems.add("litestreamSnapshotInterval", `${interval} is shorter than ${faster[0]}'s sync interval ${faster[1].syncInterval}; a snapshot interval is at least every sync interval, e.g. 24h`);
    }
    const capped = (r: Replication): string => ((goDurationMs(r.retention) ?? Infinity) < intervalMs ? r.retention : interval);
    return Object.fromEntries(DATABASE_NAMES.map((db) => [db, table[db] && { ...table[db], snapshotInterval: capped(table[db]) }])) as Record<DatabaseName, Replication | null>;
}

function bucketName(read: Reader, problems: Problems, key: KeyName, derived: string | undefined): string | undefined {
    const name = read.string(key) ?? derived;
    if (name === undefined) return undefined;
    if (name.length < 3 || name.length > MAX_LABEL || !BUCKET_NAME.test(name)) {
        problems.add(key, `${show(name)} breaks R2's bucket rules; allowed: 3-63 chars of a-z, 0-9 and '-', starting and ending with a letter or digit`);
        return undefined;
    }
    return name;
}

/** Every key pair the stack's kind needs is set (a placeholder counts: the offline plan has them). */
function checkCredentials(read: Reader, problems: Problems, kind: StackKind): void {
    const keys = credentialKeysOf(kind);
    const how =
        kind === "review"
            ? "review stacks use the review pool's key pairs, which staging's config carries: mint them with npm run r2-credentials -- --stack staging"
            : `mint it with npm run r2-credentials -- --stack ${kind} (docs/storage.md, "Credentials")`;
    for (const [purpose, pair] of Object.entries(keys)) {
        for (const key of [pair.accessKeyId, pair.secretAccessKey]) {
            if (!read.has(key)) problems.add(key, `is missing: the key pair for ${purpose} alone; ${how}`);
        }
    }
}

/** The storage settings, or undefined fields where a problem was recorded. */
export function parseStorage(read: Reader, problems: Problems, app: string | undefined, stack: { kind: StackKind; name: string } | undefined): Partial<Settings["storage"]> & { litestream: Settings["storage"]["litestream"] } {
    const location = read.oneOf("r2Location", R2_LOCATIONS);
    const jurisdiction = read.oneOf("r2Jurisdiction", R2_JURISDICTIONS) ?? (read.has("r2Jurisdiction") ? undefined : defaultOf("r2Jurisdiction"));
    const litestream = parseLitestream(read, problems, stack?.kind);
    const assumedStoredGb = read.has("r2StoredGb") ? read.integer("r2StoredGb", R2_STORED_GB) : defaultOf("r2StoredGb");
    const poolDays = read.has("reviewPoolDays") ? read.integer("reviewPoolDays", REVIEW_POOL_DAYS) : defaultOf("reviewPoolDays");
    if (!stack) return { litestream };
    checkCredentials(read, problems, stack.kind);
    const pool =
        stack.kind === "production"
            ? undefined
            : {
                  backupsBucket: bucketName(read, problems, "reviewBackupsBucket", app && `${app}-review-backups`),
                  attachmentsBucket: bucketName(read, problems, "reviewAttachmentsBucket", app && `${app}-review-attachments`),
              };
    const own =
        stack.kind === "review"
            ? pool!
            : {
                  backupsBucket: bucketName(read, problems, "backupsBucket", app && `${app}-${stack.name}-backups`),
                  attachmentsBucket: bucketName(read, problems, "attachmentsBucket", app && `${app}-${stack.name}-attachments`),
              };
    const names = [own, ...(pool && pool !== own ? [pool] : [])].flatMap((b) => [b.backupsBucket, b.attachmentsBucket]).filter((n): n is string => n !== undefined);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) problems.add(stack.kind === "review" ? "reviewAttachmentsBucket" : "attachmentsBucket", `${show(twice)} names two buckets; each bucket has one purpose`);
    return {
        backupsBucket: own.backupsBucket,
        attachmentsBucket: own.attachmentsBucket,
        ...(stack.kind === "staging" && pool?.backupsBucket && pool.attachmentsBucket && poolDays !== undefined
            ? { reviewPool: { backupsBucket: pool.backupsBucket, attachmentsBucket: pool.attachmentsBucket, expiryDays: poolDays } }
            : {}),
        ...(location ? { location } : {}),
        ...(jurisdiction ? { jurisdiction } : {}),
        litestream,
        ...(assumedStoredGb !== undefined ? { assumedStoredGb } : {}),
    };
}
