// R2 requests Litestream makes per replica, read from the rendered litestream.yml. The model follows
// Litestream v0.3.13 (the release the accessory runs, renderers/litestream.ts), benbjohnson/litestream
// at tag v0.3.13:
// - replica.go monitor(): a sync runs at most once per sync-interval, and only after the database
//   changed; Sync() -> syncWAL() uploads the new WAL frames as one segment (s3/replica_client.go
//   WriteWALSegment: one s3manager upload, a single PutObject under its 5 MiB part size).
// - replica.go snapshotter(): with snapshot-interval set, one snapshot per interval, changed or not;
//   without it (SnapshotInterval 0) EnforceRetention() takes one when none is left inside the
//   retention window, so one per retention period.
// - replica.go retainer(): EnforceRetention() every retention-check-interval (default 1h, at most
//   the retention): Snapshots() and Client.Generations() list generations twice, snapshots twice
//   (Snapshots(), deleteSnapshotsBeforeIndex()), then the WAL segments once
//   (deleteWALSegmentsBeforeIndex(): ListObjects pages of MaxKeys = 1000) and removes the expired
//   ones with DeleteObjects batches of up to 1000.
// R2 bills ListObjects and PutObject as Class A (developers.cloudflare.com/r2/pricing); its page
// names DeleteObject free and does not list DeleteObjects, which this model counts as Class A so the
// busy figure stays an upper bound. Nothing here reads objects back (Class B): that is restore and
// validation-interval, which the rendered config does not set.
import * as YAML from "yaml";
import { goDurationMs } from "../lib/duration";

/** Litestream v0.3.13 defaults (replica.go: DefaultSyncInterval, DefaultRetention, DefaultRetentionCheckInterval). */
export const LITESTREAM_DEFAULTS = { syncInterval: "1s", retention: "24h", retentionCheckInterval: "1h" } as const;
/** S3's ListObjects page size, which Litestream's MaxKeys matches. */
const KEYS_PER_PAGE = 1000;
/** Generations a replica keeps: one, unless Litestream lost its position (a new generation then snapshots again). */
const GENERATIONS = 1;

export interface ReplicaSchedule {
    /** The database file, e.g. staging.sqlite3. */
    readonly database: string;
    readonly syncInterval: string;
    readonly retention: string;
    /** null: not set, so a snapshot once per retention period. */
    readonly snapshotInterval: string | null;
    readonly retentionCheckInterval: string;
}

export interface Requests {
    readonly classA: number;
    readonly classB: number;
}

export interface ReplicaRequests {
    readonly schedule: ReplicaSchedule;
    /** The database changes between every two syncs all period long: the upper bound. */
    readonly busy: Requests;
    /** The database never changes: retention checks and scheduled snapshots only. */
    readonly idle: Requests;
}

const seconds = (duration: string, where: string): number => {
    const ms = goDurationMs(duration);
    if (ms === undefined || ms <= 0) throw new Error(`${where}: ${JSON.stringify(duration)} is not a positive Go duration`);
    return ms / 1000;
};

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** Every replica of the rendered file with its schedule, Litestream's defaults where a key is absent. */
export function replicaSchedules(litestreamYaml: string): ReplicaSchedule[] {
    const doc = YAML.parse(litestreamYaml) as { dbs?: { path?: unknown; replicas?: Record<string, unknown>[] }[] } | null;
    return (doc?.dbs ?? []).flatMap((db) => {
        const database = String(db.path ?? "").split("/").pop() ?? "";
        return (db.replicas ?? []).map((replica) => ({
            database,
            syncInterval: text(replica["sync-interval"]) ?? LITESTREAM_DEFAULTS.syncInterval,
            retention: text(replica.retention) ?? LITESTREAM_DEFAULTS.retention,
            snapshotInterval: text(replica["snapshot-interval"]) ?? null,
            retentionCheckInterval: text(replica["retention-check-interval"]) ?? LITESTREAM_DEFAULTS.retentionCheckInterval,
        }));
    });
}

/** Requests one replica makes in `hours`, busy (upper bound) and idle. */
export function replicaRequests(schedule: ReplicaSchedule, hours: number): ReplicaRequests {
    const where = `${schedule.database}`;
    const period = hours * 3600;
    const sync = seconds(schedule.syncInterval, `${where} sync-interval`);
    const retention = seconds(schedule.retention, `${where} retention`);
    const check = Math.min(seconds(schedule.retentionCheckInterval, `${where} retention-check-interval`), retention);
    const snapshotEvery = schedule.snapshotInterval === null ? retention : seconds(schedule.snapshotInterval, `${where} snapshot-interval`);

    const checks = period / check;
    // One PutObject per snapshot and one DeleteObjects when it ages out; a snapshot of 5 MiB or more
    // is a multipart upload (2 more requests and one per part), which depends on the database's
    // size and is left out.
    const snapshots = (2 * period) / snapshotEvery;
    // Per check: generations listed twice, snapshots twice (per generation), WAL segments in pages.
    const listsPerCheck = (walSegments: number) => 2 + GENERATIONS * (2 + Math.max(1, Math.ceil(walSegments / KEYS_PER_PAGE)));

    // Busy: a segment per sync, kept until the oldest retained snapshot passes it (at most the
    // retention), then deleted in batches of up to 1000.
    const segments = period / sync;
    const busyClassA = segments + snapshots + checks * listsPerCheck(retention / sync) + Math.ceil(segments / KEYS_PER_PAGE);
    const idleClassA = snapshots + checks * listsPerCheck(0);
    return { schedule, busy: { classA: Math.ceil(busyClassA), classB: 0 }, idle: { classA: Math.ceil(idleClassA), classB: 0 } };
}
