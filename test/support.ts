// Shared test helpers: run the offline plan in-process, find resources, gate external validators.
import { execFileSync } from "child_process";
import { createHash, createHmac } from "crypto";
import { XMLParser } from "fast-xml-parser";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import type { CommitReader } from "../lib/app-checkout";
import { revealSecrets, runPlan, stackConfigFromFiles } from "../plan/run";
import type { RecordedResource } from "../plan/mocks";

export const ROOT = path.resolve(__dirname, "..");

/** The commit the tests pretend the app's checkout is at: they never read a checkout outside the repo. */
export const TEST_CHECKOUT_COMMIT = "5ca1ab1e0ddba11c0ffee0123456789abcdef012";
export const testCheckout: CommitReader = () => ({ version: TEST_CHECKOUT_COMMIT });

export type OkPlan = Extract<Awaited<ReturnType<typeof runPlan>>, { ok: true }>;

/** The offline plan of a stack from its committed stack file, with raw-string config overrides. */
export async function planFor(stack: string, overrides: Record<string, string> = {}): Promise<OkPlan> {
    const result = await runPlan(stack, stackConfigFromFiles(ROOT, stack, overrides), { readCommit: testCheckout });
    if (!result.ok) throw new Error(`plan for ${stack} failed:\n${result.errors.join("\n")}`);
    return result;
}

export function resourcesOfType(plan: OkPlan, type: string): RecordedResource[] {
    return plan.resources.filter((r) => r.type === type);
}

export function resourceNamed(plan: OkPlan, type: string, name: string): RecordedResource {
    const found = plan.resources.find((r) => r.type === type && r.name === name);
    if (!found) throw new Error(`no ${type} named ${name}; have: ${resourcesOfType(plan, type).map((r) => r.name).join(", ")}`);
    return found;
}

/** A resource's inputs with secrets unwrapped (use isSecretValue on the raw inputs to test secrecy). */
export function plainInputs(resource: RecordedResource): Record<string, unknown> {
    return revealSecrets(resource.inputs) as Record<string, unknown>;
}

/**
 * Whether an external validator (cloud-init, shellcheck, ...) is installed. CI sets
 * REQUIRE_VALIDATORS=1 (.ci/run), which turns a missing one into a failure instead of a skip.
 */
export function haveTool(command: string, versionArgs: string[] = ["--version"]): boolean {
    try {
        execFileSync(command, versionArgs, { stdio: "ignore" });
        return true;
    } catch {
        if (process.env.REQUIRE_VALIDATORS === "1") throw new Error(`${command} is required (REQUIRE_VALIDATORS=1) but not installed`);
        return false;
    }
}

/**
 * Kamal's executable, from RAILS_STACK_KAMAL (the setting the deploy step reads too), or undefined
 * when unset; REQUIRE_VALIDATORS=1 makes its absence a failure instead of a skip.
 */
export function kamalExecutable(): string | undefined {
    const kamal = process.env.RAILS_STACK_KAMAL;
    if (kamal && haveTool(kamal, ["version"])) return kamal;
    if (process.env.REQUIRE_VALIDATORS === "1") throw new Error("RAILS_STACK_KAMAL must name Kamal's executable (REQUIRE_VALIDATORS=1)");
    return undefined;
}

export interface FakeApi {
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    /** Every request as `<method> <path> <authorization> <body>`, trailing blanks trimmed. */
    readonly requests: string[];
    readonly close: () => void;
}

/** A JSON API on loopback that records each request and answers with `answer`'s status and body. */
export async function fakeJsonApi(answer: (method: string, url: string) => [number, unknown]): Promise<FakeApi> {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
            requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""} ${body}`.trimEnd());
            const [status, reply] = answer(req.method!, req.url!);
            res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(reply));
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => server.close() };
}

/** A key pair the S3 stand-in accepts. */
export interface S3Credentials {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
}

export interface S3StandIn {
    /** `http://127.0.0.1:<port>`: path-style, every bucket under it, as R2's account endpoint. */
    readonly endpoint: string;
    /** `<method> <path and query>` of every request, refused ones included. */
    readonly requests: string[];
    /**
     * Multipart uploads in progress, by upload id. s3rver 3.7.1 answers ListMultipartUploads with
     * NotImplemented and AbortMultipartUpload with MethodNotAllowed (lib/routes.js), so the stand-in
     * keeps them itself.
     */
    readonly uploads: Map<string, { readonly bucket: string; readonly key: string }>;
    /** `<bucket>/<key>` of objects a bucket lock keeps: DeleteObjects reports AccessDenied for each. */
    readonly locked: Set<string>;
    /** Stores an object directly in s3rver (set-up, not through the checks). */
    readonly put: (bucket: string, key: string, body: string) => Promise<void>;
    /** Keys of the bucket, straight from s3rver. */
    readonly keys: (bucket: string) => Promise<string[]>;
    /** Answers the next `count` requests with 503 SlowDown, as S3 and R2 do under load. */
    readonly failNext: (count: number) => void;
    readonly close: () => Promise<void>;
}

/** SHA-256 (or its HMAC) on Node's crypto, in the shape @smithy/signature-v4 takes. */
class NodeSha256 {
    private readonly hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
    constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
        this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(secret));
    }
    update(data: string | ArrayBuffer | ArrayBufferView): void {
        this.hash.update(toBuffer(data));
    }
    digest(): Promise<Uint8Array> {
        return Promise.resolve(this.hash.digest());
    }
}
const toBuffer = (data: string | ArrayBuffer | ArrayBufferView): Buffer =>
    typeof data === "string" ? Buffer.from(data, "utf8") : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

/** An S3 error answer: code and status as the Amazon S3 API Reference, "Error responses", lists them. */
const s3Error = (res: http.ServerResponse, status: number, code: string, message: string): void =>
    void res.writeHead(status, { "content-type": "application/xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);

/**
 * R2's S3 API on loopback: s3rver 3.7.1 (buckets, objects, ListObjectsV2, DeleteObjects) behind a
 * front that does what s3rver does not. s3rver checks only that a SigV4 access key exists
 * ("Signature version 4 calculation is unimplemented", lib/middleware/authentication.js) and lets
 * unsigned requests through; the front refuses, as S3 and R2 do: an unsigned request (403
 * AccessDenied), an unknown key (403 InvalidAccessKeyId), a wrong signature (403
 * SignatureDoesNotMatch, recomputed with @smithy/signature-v4, the AWS SDK's own signer, over what
 * arrived), a clock 15 minutes off (403 RequestTimeTooSkewed), a body that does not match
 * x-amz-content-sha256 (400 XAmzContentSHA256Mismatch) or Content-MD5 (400 BadDigest), and a
 * DeleteObjects without Content-MD5 (400 InvalidRequest, S3 API Reference, DeleteObjects).
 */
export async function s3StandIn(options: { readonly credentials: readonly S3Credentials[]; readonly buckets: readonly string[] }): Promise<S3StandIn> {
    /* eslint-disable @typescript-eslint/no-require-imports -- s3rver ships no typings */
    const S3rver = require("s3rver") as new (o: Record<string, unknown>) => { run(): Promise<AddressInfo>; close(): Promise<void> };
    // Its account registry: the keys it lets through to the buckets.
    const { DUMMY_ACCOUNT } = require("s3rver/lib/models/account") as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };
    /* eslint-enable @typescript-eslint/no-require-imports */
    for (const c of options.credentials) DUMMY_ACCOUNT.createKeyPair(c.accessKeyId, c.secretAccessKey);
    const { SignatureV4 } = await import("@smithy/signature-v4");
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "s3-stand-in-"));
    const s3rver = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, vhostBuckets: false, configureBuckets: options.buckets.map((name) => ({ name })) });
    const backend = `http://127.0.0.1:${(await s3rver.run()).port}`;
    const secrets = new Map(options.credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
    const requests: string[] = [];
    const uploads = new Map<string, { bucket: string; key: string }>();
    const locked = new Set<string>();
    let failures = 0;

    const bucketExists = async (bucket: string): Promise<boolean> => (await fetch(`${backend}/${bucket}`, { method: "HEAD" })).status === 200;

    /** The refusal S3 would answer for this request, or null when it passes. */
    async function refusal(req: http.IncomingMessage, url: URL, body: Buffer): Promise<[number, string, string] | null> {
        const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? "");
        if (!req.headers.authorization) return [403, "AccessDenied", "Access Denied"];
        if (!auth) return [400, "AuthorizationHeaderMalformed", "The authorization header is malformed"];
        const [, accessKeyId, , region, signedHeaders] = auth;
        const secretAccessKey = secrets.get(accessKeyId);
        if (secretAccessKey === undefined) return [403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."];
        const amzDate = String(req.headers["x-amz-date"] ?? "");
        const signingDate = new Date(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
        if (isNaN(signingDate.getTime()) || Math.abs(Date.now() - signingDate.getTime()) > 15 * 60 * 1000) return [403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."];
        const contentSha = String(req.headers["x-amz-content-sha256"] ?? "");
        if (!contentSha) return [400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"];
        if (contentSha !== "UNSIGNED-PAYLOAD" && contentSha !== createHash("sha256").update(body).digest("hex")) return [400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."];
        const names = signedHeaders.split(";");
        const signer = new SignatureV4({ service: "s3", region, credentials: { accessKeyId, secretAccessKey }, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
        const query: Record<string, string> = {};
        for (const [k, v] of url.searchParams) query[k] = v;
        const signed = await signer.sign(
            { method: req.method!, protocol: "http:", hostname: url.hostname, port: Number(url.port), path: url.pathname, query, headers: Object.fromEntries(names.map((n) => [n, String(req.headers[n] ?? "")])) },
            { signingDate, signableHeaders: new Set(names) },
        );
        if (signed.headers.authorization !== req.headers.authorization) return [403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."];
        const md5 = req.headers["content-md5"];
        if (md5 !== undefined && md5 !== createHash("md5").update(body).digest("base64")) return [400, "BadDigest", "The Content-MD5 you specified did not match what we received."];
        if (req.method === "POST" && url.searchParams.has("delete") && md5 === undefined) return [400, "InvalidRequest", "Missing required header for this request: Content-Md5."];
        return null;
    }

    /**
     * What s3rver lacks or gets wrong, answered here; false for anything else. ListMultipartUploads
     * and AbortMultipartUpload (see `uploads`); DeleteObjects, whose keys s3rver parses as numbers
     * ("007" crashes it: lib/controllers/object.js parses with fast-xml-parser 3's defaults) and
     * whose Quiet mode it ignores; ListObjectsV2's pages, whose continuation tokens s3rver makes
     * with DES (lib/controllers/bucket.js), which OpenSSL 3 refuses (ERR_OSSL_EVP_UNSUPPORTED): the
     * front pages s3rver's full listing itself, up to 1000 objects a bucket.
     */
    async function handledHere(req: http.IncomingMessage, url: URL, body: Buffer, res: http.ServerResponse): Promise<boolean> {
        const [, bucket, ...keyParts] = url.pathname.split("/");
        const key = keyParts.map(decodeURIComponent).join("/");
        const listing = req.method === "GET" && keyParts.length === 0 && url.searchParams.has("uploads");
        const abort = req.method === "DELETE" && keyParts.length > 0 && url.searchParams.has("uploadId");
        const deleteObjects = req.method === "POST" && keyParts.length === 0 && url.searchParams.has("delete");
        const listObjects = req.method === "GET" && keyParts.length === 0 && url.searchParams.get("list-type") === "2";
        if (!listing && !abort && !deleteObjects && !listObjects) return false;
        if (!(await bucketExists(bucket))) return s3Error(res, 404, "NoSuchBucket", "The specified bucket does not exist."), true;
        const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
        const xml = (text: string): void => void res.writeHead(200, { "content-type": "application/xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`);
        if (listObjects) {
            const prefix = url.searchParams.get("prefix") ?? "";
            const maxKeys = Number(url.searchParams.get("max-keys") ?? 1000);
            const token = url.searchParams.get("continuation-token");
            const full = await (await fetch(`${backend}/${bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`)).text();
            const parsed = new XMLParser({ parseTagValue: false, htmlEntities: true, isArray: (name) => name === "Contents" }).parse(full) as { ListBucketResult: { Contents?: { Key: string; LastModified: string; ETag: string; Size: string }[] } };
            const all = parsed.ListBucketResult.Contents ?? [];
            const after = token === null ? "" : Buffer.from(token, "base64url").toString("utf8");
            const rest = token === null ? all : all.filter((c) => c.Key > after);
            const page = rest.slice(0, maxKeys);
            const truncated = rest.length > page.length;
            const next = truncated ? `<NextContinuationToken>${Buffer.from(page[page.length - 1].Key).toString("base64url")}</NextContinuationToken>` : "";
            const contents = page.map((c) => `<Contents><Key>${escape(c.Key)}</Key><LastModified>${c.LastModified}</LastModified><ETag>${escape(c.ETag)}</ETag><Size>${c.Size}</Size></Contents>`);
            xml(`<ListBucketResult><Name>${bucket}</Name><Prefix>${escape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${contents.join("")}</ListBucketResult>`);
        } else if (listing) {
            const page = [...uploads].filter(([, u]) => u.bucket === bucket).slice(0, 1000);
            xml(`<ListMultipartUploadsResult><Bucket>${bucket}</Bucket>${page.map(([id, u]) => `<Upload><Key>${escape(u.key)}</Key><UploadId>${id}</UploadId></Upload>`).join("")}</ListMultipartUploadsResult>`);
        } else if (abort) {
            const upload = uploads.get(url.searchParams.get("uploadId")!);
            if (!upload || upload.bucket !== bucket || upload.key !== key) return s3Error(res, 404, "NoSuchUpload", "The specified multipart upload does not exist."), true;
            uploads.delete(url.searchParams.get("uploadId")!);
            res.writeHead(204).end();
        } else {
            const parsed = new XMLParser({ parseTagValue: false, htmlEntities: true, isArray: (name) => name === "Object" }).parse(body.toString("utf8")) as { Delete?: { Quiet?: string; Object?: { Key?: string }[] } };
            const objects = parsed.Delete?.Object ?? [];
            if (objects.length === 0 || objects.length > 1000 || objects.some((o) => typeof o.Key !== "string")) return s3Error(res, 400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."), true;
            const results: string[] = [];
            for (const { Key } of objects as { Key: string }[]) {
                if (locked.has(`${bucket}/${Key}`)) {
                    results.push(`<Error><Key>${escape(Key)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`);
                    continue;
                }
                await fetch(`${backend}/${bucket}/${Key.split("/").map(encodeURIComponent).join("/")}`, { method: "DELETE" });
                if (parsed.Delete?.Quiet !== "true") results.push(`<Deleted><Key>${escape(Key)}</Key></Deleted>`);
            }
            xml(`<DeleteResult>${results.join("")}</DeleteResult>`);
        }
        return true;
    }

    const front = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const body = Buffer.concat(chunks);
            const url = new URL(req.url!, `http://${req.headers.host}`);
            requests.push(`${req.method} ${url.pathname}${url.search}`);
            void (async () => {
                if (failures > 0) return failures--, s3Error(res, 503, "SlowDown", "Please reduce your request rate.");
                const refused = await refusal(req, url, body);
                if (refused) return s3Error(res, ...refused);
                if (await handledHere(req, url, body, res)) return;
                const proxied = http.request(`${backend}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
                    res.writeHead(answer.statusCode!, answer.headers);
                    answer.pipe(res);
                });
                proxied.on("error", (err) => s3Error(res, 500, "InternalError", err.message));
                proxied.end(body);
            })().catch((err: Error) => s3Error(res, 500, "InternalError", err.message));
        });
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    return {
        endpoint: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
        requests,
        uploads,
        locked,
        put: async (bucket, key, body) => {
            const response = await fetch(`${backend}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`, { method: "PUT", body });
            if (!response.ok) throw new Error(`s3rver refused PUT ${bucket}/${key}: HTTP ${response.status}`);
        },
        keys: async (bucket) => {
            const listing = await (await fetch(`${backend}/${bucket}?list-type=2`)).text();
            const parsed = new XMLParser({ parseTagValue: false, htmlEntities: true, isArray: (name) => name === "Contents" }).parse(listing) as { ListBucketResult: { Contents?: { Key: string }[] } };
            return (parsed.ListBucketResult.Contents ?? []).map((c) => c.Key);
        },
        failNext: (count) => void (failures = count),
        close: async () => {
            front.close();
            await s3rver.close();
            fs.rmSync(directory, { recursive: true, force: true });
        },
    };
}
