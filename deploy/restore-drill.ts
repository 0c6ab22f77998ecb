// The restore drill: restores the newest replica of every database a stack replicates into a
// scratch directory, with the real Litestream and the stack's own rendered replica settings, and
// measures what a restore would give today: how old the replica is (RPO), how long the restore
// takes (RTO), whether the result passes SQLite's integrity check, its size and its largest tables.
// Problems come back as one line each: no replica, a replica older than its snapshot interval
// allows, a missing or damaged replica object, credentials refused, a missing bucket, integrity.
import { spawnSync } from "child_process";
import { decompressFrameSync } from "lz4-napi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { DatabaseName, Replication, Settings } from "../config/settings";
import { goDurationMs } from "../lib/duration";
import { S3Bucket, S3Error } from "../lib/s3";
import { databaseFiles, LITESTREAM_ENV, LitestreamInput, litestreamInput, renderLitestream } from "../renderers/litestream";
import { DATABASE_NAMES } from "../config/settings";

export interface DrillTools {
    /** Litestream 0.3.13's executable. */
    readonly litestream: string;
    readonly sqlite3: string;
    /** Litestream's credentials for the backups bucket. */
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
    readonly now: () => Date;
}

export interface DatabaseReport {
    readonly database: DatabaseName;
    readonly file: string;
    /** Seconds since the replica's last write (RPO), when it has one. */
    readonly replicaAgeSeconds?: number;
    /** Seconds the restore took (RTO, on this machine), when it succeeded. */
    readonly restoreSeconds?: number;
    readonly integrity?: string;
    readonly sizeBytes?: number;
    /** The three largest tables by rows. */
    readonly tables?: readonly { readonly name: string; readonly rows: number }[];
}

export interface DrillResult {
    readonly reports: readonly DatabaseReport[];
    readonly problems: readonly string[];
}

/** How old a healthy replica may be: Litestream writes a snapshot every snapshot interval, changes or not. */
export function allowedAgeSeconds(replication: Replication): number {
    const snapshot = goDurationMs(replication.snapshotInterval)! / 1000;
    const sync = goDurationMs(replication.syncInterval)! / 1000;
    return snapshot + Math.max(sync, 600);
}

/** A duration as people read it: 42s, 5m 10s, 3h 2m, 2d 4h. */
export function humanDuration(seconds: number): string {
    const s = Math.round(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A Litestream 0.3 replica object of one generation: `snapshots/<index>.snapshot.lz4` or `wal/<index>_<offset>.wal.lz4`. */
export interface ReplicaObject {
    readonly key: string;
    readonly kind: "snapshot" | "wal";
    readonly generation: string;
    readonly index: number;
    /** Byte offset of a WAL segment in its WAL file. */
    readonly offset: number;
}

/** The objects under a database's replica prefix that Litestream itself wrote (file_replica_client / s3 layout). */
export function replicaObjects(prefix: string, keys: readonly string[]): ReplicaObject[] {
    return keys.flatMap((key): ReplicaObject[] => {
        const match = /^generations\/([0-9a-f]{16})\/(?:snapshots\/([0-9a-f]{8})\.snapshot\.lz4|wal\/([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4)$/.exec(key.slice(prefix.length));
        if (!match) return [];
        const [, generation, snapshotIndex, walIndex, offset] = match;
        return snapshotIndex !== undefined
            ? [{ key, kind: "snapshot", generation, index: parseInt(snapshotIndex, 16), offset: 0 }]
            : [{ key, kind: "wal", generation, index: parseInt(walIndex, 16), offset: parseInt(offset, 16) }];
    });
}

/**
 * What a restore of the newest generation reads, checked object by object: its newest snapshot,
 * and every WAL segment after it, each one decompressed and starting where the one before ended.
 * `litestream restore` 0.3.13 checks only that a WAL index starts at offset 0 and that offsets
 * ascend (replica.go `walSegmentMap`): a segment missing in the middle restores silently to an
 * earlier state, which integrity_check cannot see. Returns one problem per finding.
 */
export async function verifyReplica(database: string, objects: readonly ReplicaObject[], newestGeneration: string, read: (key: string) => Promise<Buffer | undefined>): Promise<string[]> {
    const generation = objects.filter((o) => o.generation === newestGeneration);
    const snapshots = generation.filter((o) => o.kind === "snapshot").sort((a, b) => a.index - b.index);
    const base = snapshots[snapshots.length - 1];
    if (!base) return [`${database}: generation ${newestGeneration} of its replica has no snapshot, so nothing restores from it`];
    const decompressed = async (object: ReplicaObject): Promise<number | string> => {
        const body = await read(object.key);
        if (body === undefined) return `${database}: ${object.key} is listed but missing from the bucket`;
        try {
            return decompressFrameSync(body).length;
        } catch (err) {
            return `${database}: ${object.key} is damaged (${(err as Error).message})`;
        }
    };
    const problems: string[] = [];
    const snapshot = await decompressed(base);
    if (typeof snapshot === "string") problems.push(snapshot);
    const byIndex = new Map<number, ReplicaObject[]>();
    for (const wal of generation.filter((o) => o.kind === "wal" && o.index >= base.index)) byIndex.set(wal.index, [...(byIndex.get(wal.index) ?? []), wal]);
    for (const [index, segments] of [...byIndex].sort(([a], [b]) => a - b)) {
        let expected = 0;
        for (const segment of segments.sort((a, b) => a.offset - b.offset)) {
            if (segment.offset !== expected) {
                problems.push(`${database}: WAL ${index.toString(16).padStart(8, "0")} of its replica lacks the segment at offset ${expected} (the next one starts at ${segment.offset}): an object is missing, a restore stops before it`);
                break;
            }
            const size = await decompressed(segment);
            if (typeof size === "string") {
                problems.push(size);
                break;
            }
            expected += size;
        }
    }
    return problems;
}

/** What a failed `litestream restore` says, as the problem an operator acts on. */
export function restoreProblem(database: string, output: string): string {
    const detail = output.trim().split("\n").filter(Boolean).pop() ?? "no output";
    if (/NoSuchKey|status code: 404|not found|no snapshots available|missing initial wal segment/i.test(output)) return `${database}: an object of its replica is missing, so no restore gets past it (${detail})`;
    if (/lz4|unexpected EOF|checksum|invalid|corrupt|malformed/i.test(output)) return `${database}: an object of its replica is damaged (${detail})`;
    return `${database}: restoring its replica failed (${detail})`;
}

function sqlite(tools: DrillTools, file: string, sql: string): string {
    const run = spawnSync(tools.sqlite3, ["-readonly", "-json", file, sql], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`sqlite3 failed on ${path.basename(file)}: ${run.stderr.trim()}`);
    return run.stdout;
}

const rows = <T>(json: string): T[] => (json.trim() ? (JSON.parse(json) as T[]) : []);

/** The three largest tables of a restored database, by rows. */
function largestTables(tools: DrillTools, file: string): { name: string; rows: number }[] {
    // Not SQLite's own tables, nor Litestream's (_litestream_seq, _litestream_lock: db.go).
    const names = rows<{ name: string }>(sqlite(tools, file, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_litestream\\_%' ESCAPE '\\'")).map((r) => r.name);
    if (names.length === 0) return [];
    const quoted = (name: string): string => `"${name.replace(/"/g, '""')}"`;
    const counts = names.map((name) => `SELECT '${name.replace(/'/g, "''")}' AS name, count(*) AS rows FROM ${quoted(name)}`).join(" UNION ALL ");
    return rows<{ name: string; rows: number }>(sqlite(tools, file, `${counts} ORDER BY rows DESC, name LIMIT 3`));
}

/** What a failed check of the backups bucket (HeadBucket) means, as the drill's one line. */
export function bucketProblem(input: Pick<LitestreamInput, "bucket" | "endpoint">, err: S3Error): string {
    const where = `s3://${input.bucket} at ${input.endpoint}`;
    if (err.problem === "credentials-refused") return `credentials refused by ${where} (${err.code ?? `HTTP ${err.status}`}): Litestream's key pair is wrong, rotated or not allowed on this bucket`;
    if (err.problem === "bucket-missing") return `bucket missing: ${where} does not exist (backupsBucket)`;
    return `${where} did not answer: ${err.message}`;
}

/** Runs the drill for a stack; the scratch directory is gone when it returns. */
export async function restoreDrill(settings: Settings, tools: DrillTools): Promise<DrillResult> {
    const input = litestreamInput(settings);
    const bucket = new S3Bucket({ endpoint: input.endpoint, bucket: input.bucket, ...tools.credentials });
    try {
        await bucket.check();
    } catch (err) {
        if (!(err instanceof S3Error)) throw err;
        return { reports: [], problems: [bucketProblem(input, err)] };
    }

    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "restore-drill-"));
    try {
        // The stack's own replica settings, with each database's path moved into the scratch directory.
        const config = YAML.parse(renderLitestream(input)) as { dbs: { path: string }[] };
        for (const db of config.dbs) db.path = path.join(scratch, path.basename(db.path));
        const configFile = path.join(scratch, "litestream.yml");
        fs.writeFileSync(configFile, YAML.stringify(config));
        const env = {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            ...(process.env.SSL_CERT_FILE ? { SSL_CERT_FILE: process.env.SSL_CERT_FILE } : {}),
            [LITESTREAM_ENV.accessKeyId]: tools.credentials.accessKeyId,
            [LITESTREAM_ENV.secretAccessKey]: tools.credentials.secretAccessKey,
        };

        const reports: DatabaseReport[] = [];
        const problems: string[] = [];
        for (const database of DATABASE_NAMES) {
            const replication = settings.storage.litestream[database];
            if (!replication) continue;
            const file = databaseFiles(settings.railsEnv)[database];
            const prefix = `${settings.stack}/${database}/`;
            const objects = await bucket.listObjects(prefix);
            if (objects.length === 0) {
                problems.push(`${database}: no replica under s3://${input.bucket}/${prefix}: Litestream never wrote one (no deploy yet, or its accessory is not running)`);
                reports.push({ database, file });
                continue;
            }
            const lastWrite = Math.max(...objects.map((o) => Date.parse(o.lastModified)));
            // The generation a restore picks: the one written last (replica.go CalcRestoreTarget).
            const written = new Map(objects.map((o) => [o.key, Date.parse(o.lastModified)]));
            const parts = replicaObjects(prefix, objects.map((o) => o.key));
            const newest = parts.reduce<ReplicaObject | undefined>((a, b) => (a && written.get(a.key)! >= written.get(b.key)! ? a : b), undefined);
            const replicaAgeSeconds = Math.max(0, (tools.now().getTime() - lastWrite) / 1000);
            const allowed = allowedAgeSeconds(replication);
            if (replicaAgeSeconds > allowed) {
                problems.push(
                    `${database}: its replica was last written ${humanDuration(replicaAgeSeconds)} ago, more than its snapshot interval ${replication.snapshotInterval} allows (${humanDuration(allowed)}): Litestream is not replicating it (kamal accessory logs litestream)`,
                );
            }
            const damage = newest ? await verifyReplica(database, parts, newest.generation, (key) => bucket.getObject(key)) : [`${database}: no Litestream generation under s3://${input.bucket}/${prefix}`];
            problems.push(...damage);
            const target = path.join(scratch, file);
            const started = process.hrtime.bigint();
            const restore = spawnSync(tools.litestream, ["restore", "-config", configFile, target], { encoding: "utf8", env });
            const restoreSeconds = Number(process.hrtime.bigint() - started) / 1e9;
            if (restore.status !== 0 || !fs.existsSync(target)) {
                problems.push(restoreProblem(database, `${restore.stdout}${restore.stderr}`));
                reports.push({ database, file, replicaAgeSeconds });
                continue;
            }
            const integrity = rows<{ integrity_check: string }>(sqlite(tools, target, "PRAGMA integrity_check"))
                .map((r) => r.integrity_check)
                .join("; ");
            if (integrity !== "ok") problems.push(`${database}: the restored database fails SQLite's integrity check (${integrity})`);
            reports.push({ database, file, replicaAgeSeconds, restoreSeconds, integrity, sizeBytes: fs.statSync(target).size, tables: largestTables(tools, target) });
        }
        return { reports, problems };
    } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

const size = (bytes: number): string => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

/** The drill's report as Markdown: one row per database, then one line per problem. */
export function formatDrill(stack: string, result: DrillResult): string {
    const cell = (value: string | undefined): string => value ?? "-";
    const lines = [
        `## Restore drill: ${stack}`,
        "",
        "| database | replica age (RPO) | restore time (RTO) | integrity | size | largest tables (rows) |",
        "|---|---:|---:|---|---:|---|",
        ...result.reports.map((r) =>
            [
                r.database,
                cell(r.replicaAgeSeconds === undefined ? undefined : humanDuration(r.replicaAgeSeconds)),
                cell(r.restoreSeconds === undefined ? undefined : `${r.restoreSeconds.toFixed(1)}s`),
                cell(r.integrity),
                cell(r.sizeBytes === undefined ? undefined : size(r.sizeBytes)),
                cell(r.tables?.map((t) => `${t.name} ${t.rows}`).join(", ")),
            ].join(" | "),
        ).map((row) => `| ${row} |`),
        "",
        result.problems.length === 0 ? "No problem: every replica restores." : `Problems (${result.problems.length}):`,
        ...result.problems.map((p) => `- ${p}`),
        "",
    ];
    return lines.join("\n");
}
