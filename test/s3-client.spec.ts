// The S3 surface of lib/s3.ts (aws4 signing, fast-xml-parser) against an R2 stand-in that checks
// every signature with the AWS SDK's own signer: the delete-time emptier, the typed errors a
// restore drill reports, retries; the stand-in's own refusals; the emptier script as Pulumi runs it.
import * as assert from "assert";
import { execFile } from "child_process";
import { createHash } from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import { promisify } from "util";
import { emptyBucket, R2_EMPTY_COMMAND, R2_EMPTY_ENV, S3Bucket, S3BucketMissing, S3CredentialsRefused, S3RequestFailed, signV4 } from "../lib/s3";
import { ROOT, s3StandIn, S3StandIn } from "./support";

const CREDS = { accessKeyId: "0123456789abcdef0123456789abcdef", secretAccessKey: "f".repeat(64) };
const KEYS = ["staging/primary/generations/0/wal/a.lz4", "k&1", "a b/c", "x+y", "ü/ñ", "(p)*!'", "007"];

describe("storage: S3 client against the R2 stand-in", function () {
    let s3: S3StandIn;
    const access = (over: Partial<{ bucket: string; accessKeyId: string; secretAccessKey: string }> = {}) => ({ endpoint: s3.endpoint, bucket: "backups", ...CREDS, ...over });

    beforeEach(async () => {
        s3 = await s3StandIn({ credentials: [CREDS], buckets: ["backups", "other"] });
        for (const key of KEYS) await s3.put("backups", key, `body of ${key}`);
        await s3.put("other", "keep", "x");
    });
    afterEach(() => s3.close());

    it("empties a bucket: aborts every upload, deletes every object, keys with any character, leaves other buckets alone", async () => {
        s3.uploads.set("u1", { bucket: "backups", key: "p/1" }).set("u2", { bucket: "backups", key: "p 3&" }).set("u3", { bucket: "other", key: "q" });
        assert.deepStrictEqual(await emptyBucket(access()), { deletedObjects: KEYS.length, abortedUploads: 2, bucketExisted: true });
        assert.deepStrictEqual(await s3.keys("backups"), []);
        assert.deepStrictEqual(await s3.keys("other"), ["keep"]);
        assert.deepStrictEqual([...s3.uploads.keys()], ["u3"]);
        assert.ok(s3.requests.includes("DELETE /backups/p%203%26?uploadId=u2"), s3.requests.join("\n"));
        assert.ok(s3.requests.includes("POST /backups?delete="), "one DeleteObjects");
    });

    it("empties one review stack's share of a shared bucket: only keys and uploads under its prefix, the others' stay", async () => {
        await s3.put("backups", "pr-7/primary/generations/a/wal/1.lz4", "x");
        await s3.put("backups", "pr-70/primary/generations/b/wal/1.lz4", "y");
        s3.uploads.set("u7", { bucket: "backups", key: "pr-7/primary/snap" }).set("u70", { bucket: "backups", key: "pr-70/primary/snap" });
        assert.deepStrictEqual(await emptyBucket(access(), "pr-7/"), { deletedObjects: 1, abortedUploads: 1, bucketExisted: true });
        const left = await s3.keys("backups");
        assert.ok(!left.some((k) => k.startsWith("pr-7/")) && left.includes("pr-70/primary/generations/b/wal/1.lz4") && left.length === KEYS.length + 1, left.join("\n"));
        assert.deepStrictEqual([...s3.uploads.keys()], ["u70"]);
    });

    it("a bucket that is gone is nothing to empty; check() says which problem it is", async () => {
        assert.deepStrictEqual(await emptyBucket(access({ bucket: "gone" })), { deletedObjects: 0, abortedUploads: 0, bucketExisted: false });
        await assert.rejects(new S3Bucket(access({ bucket: "gone" })).check(), (err: Error) => err instanceof S3BucketMissing && /^bucket gone does not exist \(HEAD gone at http:\/\/127\.0\.0\.1:\d+: HTTP 404\)$/.test(err.message));
        await new S3Bucket(access()).check();
    });

    it("refused credentials are their own error, one line, no secret, and delete nothing", async () => {
        for (const [over, code] of [[{ secretAccessKey: "e".repeat(64) }, "SignatureDoesNotMatch"], [{ accessKeyId: "unknown" }, "InvalidAccessKeyId"]] as const) {
            for (const attempt of [() => emptyBucket(access(over)), () => new S3Bucket(access(over)).listObjects("staging/")]) {
                await assert.rejects(attempt(), (err: Error) => {
                    assert.ok(err instanceof S3CredentialsRefused, `${err.name}: ${err.message}`);
                    assert.strictEqual(err.code, code);
                    assert.match(err.message, /^credentials refused \(GET backups at http:\/\/127\.0\.0\.1:\d+: HTTP 403 \w+: .*\)$/);
                    assert.ok(!err.message.includes(CREDS.secretAccessKey) && !err.message.includes("e".repeat(64)));
                    return true;
                });
            }
            // HEAD answers carry no body: the status alone says the key was refused.
            await assert.rejects(new S3Bucket(access(over)).check(), S3CredentialsRefused);
        }
        assert.strictEqual((await s3.keys("backups")).length, KEYS.length);
    });

    it("lists under a prefix page by page, heads and gets objects, deletes chosen keys", async () => {
        const bucket = new S3Bucket(access());
        const listed = await bucket.listObjects("", 2);
        assert.deepStrictEqual(listed.map((o) => o.key).sort(), [...KEYS].sort());
        assert.ok(s3.requests.filter((r) => r.includes("continuation-token=")).length >= 3, "followed the continuation tokens");
        const [wal] = await bucket.listObjects("staging/primary/");
        assert.deepStrictEqual({ key: wal.key, size: wal.size }, { key: KEYS[0], size: `body of ${KEYS[0]}`.length });
        assert.match(wal.lastModified, /^\d{4}-\d\d-\d\dT/);
        assert.deepStrictEqual(await bucket.listObjects("nothing/here/"), []);

        const head = await bucket.headObject("a b/c");
        assert.strictEqual(head?.size, "body of a b/c".length);
        assert.match(head.etag, /^"[0-9a-f]{32}"$/);
        assert.strictEqual(await bucket.headObject("missing"), undefined);
        await assert.rejects(new S3Bucket(access({ bucket: "gone" })).headObject("missing"), S3BucketMissing);
        assert.strictEqual((await bucket.getObject("ü/ñ"))!.toString(), "body of ü/ñ");
        assert.strictEqual(await bucket.getObject("missing"), undefined);
        await assert.rejects(new S3Bucket(access({ bucket: "gone" })).getObject("k"), S3BucketMissing);

        s3.locked.add("backups/x+y");
        await assert.rejects(bucket.deleteObjects(["x+y", "a b/c"]), (err: Error) => err instanceof S3RequestFailed && err.code === "AccessDenied" && err.message === "DeleteObjects in backups left 1 keys, e.g. x+y: AccessDenied Access Denied");
        assert.strictEqual(await bucket.headObject("a b/c"), undefined, "the other key went");
        await bucket.deleteObjects(["k&1", "007"]);
        assert.deepStrictEqual((await s3.keys("backups")).sort(), KEYS.filter((k) => !["k&1", "007", "a b/c"].includes(k)).sort());
    });

    it("retries R2's transient 503s, then gives up with an error that says so", async () => {
        const bucket = new S3Bucket(access());
        s3.failNext(2);
        assert.strictEqual((await bucket.listObjects()).length, KEYS.length);
        assert.strictEqual(s3.requests.length, 3);
        s3.failNext(3);
        await assert.rejects(bucket.listObjects(), (err: Error) => err instanceof S3RequestFailed && err.status === 503 && /GET backups at .* failed: HTTP 503 SlowDown: /.test(err.message));
    });

    it("an endpoint that does not answer is an 'other' problem naming it", async () => {
        const closed = http.createServer();
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
        const endpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
        closed.close();
        await assert.rejects(new S3Bucket({ ...access(), endpoint }).check(), (err: Error) => err instanceof S3RequestFailed && err.status === 0 && err.message.startsWith(`cannot reach ${endpoint} for bucket backups: `));
    });

    it("the stand-in refuses what R2 refuses: unsigned, tampered, wrong path, missing Content-MD5", async () => {
        const sha = (payload: string) => ({ "x-amz-content-sha256": createHash("sha256").update(payload).digest("hex") });
        const signed = (method: string, url: URL, headers: Record<string, string>) =>
            signV4({ method, url, headers, payloadHash: headers["x-amz-content-sha256"], region: "auto", service: "s3", ...CREDS, now: new Date() });
        const answer = async (url: URL, init: RequestInit) => {
            const r = await fetch(url, init);
            return `${r.status} ${/<Code>(\w+)<\/Code>/.exec(await r.text())?.[1] ?? ""}`.trim();
        };
        const list = new URL(`${s3.endpoint}/backups?list-type=2`);
        assert.strictEqual(await answer(list, { headers: signed("GET", list, sha("")) }), "200");
        assert.strictEqual(await answer(list, {}), "403 AccessDenied");
        assert.strictEqual(await answer(new URL(`${s3.endpoint}/other?list-type=2`), { headers: signed("GET", list, sha("")) }), "403 SignatureDoesNotMatch");
        const del = new URL(`${s3.endpoint}/backups?delete=`);
        const body = "<Delete><Object><Key>007</Key></Object></Delete>";
        const tampered = body.replace("007", "k&amp;1");
        assert.strictEqual(await answer(del, { method: "POST", body: tampered, headers: signed("POST", del, sha(body)) }), "400 XAmzContentSHA256Mismatch");
        assert.strictEqual(await answer(del, { method: "POST", body, headers: signed("POST", del, sha(body)) }), "400 InvalidRequest");
        assert.strictEqual(await answer(del, { method: "POST", body, headers: signed("POST", del, { ...sha(body), "content-md5": "AAAAAAAAAAAAAAAAAAAAAA==" }) }), "400 BadDigest");
        assert.strictEqual((await s3.keys("backups")).length, KEYS.length, "nothing was deleted");
    });

    it("the emptier script, as the delete step runs it: a summary on success, one line and exit 1 on refusal, never a secret", async () => {
        s3.uploads.set("u9", { bucket: "backups", key: "z" });
        const run = (secret: string) =>
            promisify(execFile)("node", R2_EMPTY_COMMAND.split(" ").slice(1), {
                cwd: ROOT,
                env: { PATH: process.env.PATH, [R2_EMPTY_ENV.endpoint]: s3.endpoint, [R2_EMPTY_ENV.bucket]: "backups", [R2_EMPTY_ENV.accessKeyId]: CREDS.accessKeyId, [R2_EMPTY_ENV.secretAccessKey]: secret },
            });
        const refused = await run("e".repeat(64)).then(
            () => assert.fail("a refused key must fail the step"),
            (err: { code: number; stderr: string }) => err,
        );
        assert.strictEqual(refused.code, 1);
        assert.match(refused.stderr, /^r2-empty: credentials refused \(GET backups at http:\/\/127\.0\.0\.1:\d+: HTTP 403 SignatureDoesNotMatch: [^\n]*\)\n$/);
        const ok = await run(CREDS.secretAccessKey);
        assert.strictEqual(ok.stderr, `r2-empty: backups: deleted ${KEYS.length} objects, aborted 1 multipart uploads\n`);
        for (const text of [refused.stderr, ok.stderr, ok.stdout]) assert.ok(!text.includes(CREDS.secretAccessKey));
    });
});
