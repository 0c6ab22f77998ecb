// The restore drill's own judgement (deploy/restore-drill.ts), on replica objects built the way
// Litestream 0.3.13 writes them (lz4 frames; `<index>_<offset>.wal.lz4`, offsets in bytes of the
// WAL). The whole drill runs with the real Litestream against a real replica in the rehearsal.
import * as assert from "assert";
import { compressFrameSync } from "lz4-napi";
import { allowedAgeSeconds, humanDuration, replicaObjects, restoreProblem, verifyReplica } from "../deploy/restore-drill";

const PREFIX = "staging/primary/";
const GENERATION = "5c2f0fffb3ee27ba";
const key = (path: string): string => `${PREFIX}generations/${GENERATION}/${path}`;
/** A WAL segment of `frames` frames of a 4096-byte page (24-byte frame headers), plus the 32-byte WAL header at offset 0. */
const segment = (offset: number, frames: number): Buffer => Buffer.alloc((offset === 0 ? 32 : 0) + frames * (24 + 4096), 7);

function replica(): Map<string, Buffer> {
    const objects = new Map<string, Buffer>();
    objects.set(key("snapshots/00000000.snapshot.lz4"), compressFrameSync(Buffer.alloc(8192, 1)));
    let offset = 0;
    for (const frames of [4, 1, 2]) {
        const data = segment(offset, frames);
        objects.set(key(`wal/00000000_${offset.toString(16).padStart(8, "0")}.wal.lz4`), compressFrameSync(data));
        offset += data.length;
    }
    objects.set(key("wal/00000001_00000000.wal.lz4"), compressFrameSync(segment(0, 1)));
    return objects;
}

const verify = (objects: Map<string, Buffer>) => verifyReplica("primary", replicaObjects(PREFIX, [...objects.keys()]), GENERATION, async (k) => objects.get(k));

describe("restore drill: what a replica must hold for a restore to be whole", () => {
    it("reads Litestream's object names and nothing else", () => {
        const parsed = replicaObjects(PREFIX, [...replica().keys(), `${PREFIX}generations/${GENERATION}/wal/notes.txt`, `${PREFIX}other`]);
        assert.deepStrictEqual(
            parsed.map((o) => [o.kind, o.index, o.offset]),
            [["snapshot", 0, 0], ["wal", 0, 0], ["wal", 0, 16512], ["wal", 0, 20632], ["wal", 1, 0]],
        );
    });

    it("a complete replica passes", async () => {
        assert.deepStrictEqual(await verify(replica()), []);
    });

    it("a WAL segment missing in the middle (which `litestream restore` passes over silently) is found", async () => {
        const objects = replica();
        objects.delete(key("wal/00000000_00004080.wal.lz4"));
        assert.deepStrictEqual(await verify(objects), [
            "primary: WAL 00000000 of its replica lacks the segment at offset 16512 (the next one starts at 20632): an object is missing, a restore stops before it",
        ]);
    });

    it("a truncated segment and a listed object that is gone are reported as such", async () => {
        const truncated = replica();
        const name = key("wal/00000000_00004080.wal.lz4");
        truncated.set(name, truncated.get(name)!.subarray(0, 12));
        const [damaged] = await verify(truncated);
        assert.match(damaged, /^primary: staging\/primary\/generations\/5c2f0fffb3ee27ba\/wal\/00000000_00004080\.wal\.lz4 is damaged \(.+\)$/);
        const listed = replica();
        const gone = await verifyReplica("primary", replicaObjects(PREFIX, [...listed.keys()]), GENERATION, async (k) => (k.includes("00000001_") ? undefined : listed.get(k)));
        assert.deepStrictEqual(gone, [`primary: ${key("wal/00000001_00000000.wal.lz4")} is listed but missing from the bucket`]);
    });

    it("a generation without a snapshot restores nothing", async () => {
        const objects = replica();
        objects.delete(key("snapshots/00000000.snapshot.lz4"));
        assert.deepStrictEqual(await verify(objects), [`primary: generation ${GENERATION} of its replica has no snapshot, so nothing restores from it`]);
    });

    it("a replica may be as old as its snapshot interval plus a sync (at least ten minutes of slack)", () => {
        assert.strictEqual(allowedAgeSeconds({ syncInterval: "1s", retention: "720h", snapshotInterval: "24h" }), 86400 + 600);
        assert.strictEqual(allowedAgeSeconds({ syncInterval: "30m", retention: "720h", snapshotInterval: "1h" }), 3600 + 1800);
        assert.deepStrictEqual([42, 310, 3 * 3600 + 120, 2 * 86400 + 4 * 3600].map(humanDuration), ["42s", "5m 10s", "3h 2m", "2d 4h"]);
    });

    it("names a failed restore by its cause, from Litestream's own messages", () => {
        // As Litestream 0.3.13 prints them (seen with the npm build against s3rver: snapshots deleted, a WAL segment cut short).
        assert.match(restoreProblem("queue", 'level=ERROR msg="failed to run" error="cannot find snapshot index by timestamp: no snapshots available"'), /^queue: an object of its replica is missing/);
        assert.match(restoreProblem("queue", 'level=ERROR msg="failed to run" error="cannot download wal 5c2f0fffb3ee27ba/00000000: unexpected EOF"'), /^queue: an object of its replica is damaged \(.*unexpected EOF"\)$/);
        assert.match(restoreProblem("queue", 'level=ERROR msg="failed to run" error="connection reset"'), /^queue: restoring its replica failed \(.*connection reset/);
    });
});
