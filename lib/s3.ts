// The S3 API of an R2 bucket: the delete-time emptier of review stacks (components/scripts/r2-empty.ts)
// and whatever else must read or clean a bucket. SigV4 comes from `aws4`, XML from
// `fast-xml-parser`, HTTP from Node's fetch. Both libraries load on first use: the Pulumi program
// imports this module for R2_EMPTY_ENV and R2_EMPTY_COMMAND at start-up and must not pay for them.
import { createHash } from "crypto";
import type * as Aws4 from "aws4";
import type * as Fxp from "fast-xml-parser";

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
const aws4 = (): typeof Aws4 => require("aws4") as typeof Aws4;
const xml = (): typeof Fxp => require("fast-xml-parser") as typeof Fxp;
/* eslint-enable @typescript-eslint/no-require-imports */

const sha256Hex = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** SHA-256 of an empty payload (GET, HEAD and DELETE requests). */
export const EMPTY_PAYLOAD_SHA256 = sha256Hex("");

/** RFC 3986 encoding of one path segment, as SigV4 canonical requests require. */
export function uriEncode(value: string): string {
    return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface SignRequest {
    readonly method: string;
    /** Path already URI-encoded per segment. */
    readonly url: URL;
    /** Headers to sign besides host and x-amz-date (e.g. x-amz-content-sha256, range): exactly these are signed. */
    readonly headers: Readonly<Record<string, string>>;
    /** Hex SHA-256 of the body. */
    readonly payloadHash: string;
    readonly region: string;
    readonly service: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly now: Date;
}

/**
 * aws4's own options that @types/aws4 1.11 leaves out (mhart/aws4 aws4.js, RequestSigner and
 * filterHeaders): header names to sign although aws4 skips them by default (range), or to skip.
 */
type Aws4Request = Aws4.Request & { extraHeadersToInclude?: Record<string, boolean>; extraHeadersToIgnore?: Record<string, boolean> };

/**
 * AWS Signature Version 4 through aws4: the headers to send (host excluded: fetch derives it from
 * the URL). Signs exactly host, x-amz-date and `headers`; the body hash is `payloadHash`.
 */
export function signV4(req: SignRequest): Record<string, string> {
    const headers: Record<string, string> = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const sendHash = "x-amz-content-sha256" in headers;
    const options: Aws4Request = {
        method: req.method,
        host: req.url.host,
        path: `${req.url.pathname}${req.url.search}`,
        service: req.service,
        region: req.region,
        // aws4 takes the body hash from this header; when the caller does not send it, it is left unsigned and dropped.
        headers: { ...headers, "x-amz-date": req.now.toISOString().replace(/[-:]|\.\d{3}/g, ""), "x-amz-content-sha256": req.payloadHash },
        extraHeadersToInclude: Object.fromEntries(Object.keys(headers).map((name) => [name, true])),
        extraHeadersToIgnore: sendHash ? {} : { "x-amz-content-sha256": true },
    };
    const signed = aws4().sign(options, { accessKeyId: req.accessKeyId, secretAccessKey: req.secretAccessKey });
    const out = Object.entries(signed.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const);
    return Object.fromEntries(out.filter(([k]) => k !== "host" && (sendHash || k !== "x-amz-content-sha256")));
}

/** An XML document as plain objects: text stays text (keys like "007" are keys), repeated elements are arrays. */
type XmlNode = string | XmlNode[] | { [tag: string]: XmlNode };

/** Elements that S3 repeats in list and delete answers: always arrays, even with one member. */
const REPEATED = new Set(["Contents", "Upload", "Deleted", "Error", "CommonPrefixes"]);

function parseXml(text: string): XmlNode {
    const parser = new (xml().XMLParser)({ ignoreAttributes: true, parseTagValue: false, trimValues: false, htmlEntities: true, isArray: (name) => REPEATED.has(name) });
    return parser.parse(text) as XmlNode;
}

/** Text of every <tag> element, at any depth. */
export function xmlValues(text: string, tag: string): string[] {
    const found: string[] = [];
    const walk = (node: XmlNode, name: string | null): void => {
        if (typeof node === "string") {
            if (name === tag) found.push(node);
        } else if (Array.isArray(node)) {
            for (const member of node) walk(member, name);
        } else {
            for (const [child, value] of Object.entries(node)) walk(value, child);
        }
    };
    walk(parseXml(text), null);
    return found;
}

export interface BucketAccess {
    /** R2's S3 endpoint, e.g. https://<account>.r2.cloudflarestorage.com. */
    readonly endpoint: string;
    readonly bucket: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
}

/** Why an S3 request failed: every error this module throws is one of the three subclasses. */
export abstract class S3Error extends Error {
    abstract readonly problem: "bucket-missing" | "credentials-refused" | "other";
    /** HTTP status, 0 when the endpoint could not be reached. */
    readonly status: number;
    /** S3's error code (e.g. NoSuchBucket, SignatureDoesNotMatch), when the answer had one. */
    readonly code: string | undefined;
    constructor(message: string, status: number, code: string | undefined) {
        super(message);
        this.name = new.target.name;
        this.status = status;
        this.code = code;
    }
}
/** The bucket does not exist (404 NoSuchBucket, or a bare 404 to HEAD). */
export class S3BucketMissing extends S3Error {
    readonly problem = "bucket-missing";
}
/** The endpoint refused the key pair or its signature, or the key has no access to the bucket (401/403). */
export class S3CredentialsRefused extends S3Error {
    readonly problem = "credentials-refused";
}
/** Anything else: another HTTP error, an unreachable endpoint, a DeleteObjects key that was not deleted. */
export class S3RequestFailed extends S3Error {
    readonly problem = "other";
}

export interface S3Object {
    readonly key: string;
    readonly size: number;
    /** ISO 8601, as S3 gives it. */
    readonly lastModified: string;
    readonly etag: string;
}

export interface ObjectPage {
    readonly objects: readonly S3Object[];
    /** Present when more objects follow: pass it back as `continuationToken`. */
    readonly nextContinuationToken?: string;
}

export interface MultipartUpload {
    readonly key: string;
    readonly uploadId: string;
}

export interface ObjectHead {
    readonly size: number;
    readonly etag: string;
    /** The Last-Modified header: an HTTP date. */
    readonly lastModified: string;
}

interface S3Request {
    readonly method: "GET" | "HEAD" | "POST" | "DELETE";
    readonly key?: string;
    readonly query?: Readonly<Record<string, string>>;
    readonly body?: string;
}

/** Statuses worth another try: R2's transient errors and rate limiting; every request here is idempotent. */
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

const asText = (node: XmlNode | undefined): string => (typeof node === "string" ? node : "");
const children = (node: XmlNode | undefined, tag: string): XmlNode[] => {
    if (node === undefined || typeof node === "string" || Array.isArray(node)) return [];
    const value = node[tag];
    return value === undefined ? [] : Array.isArray(value) ? value : [value];
};
const child = (node: XmlNode | undefined, tag: string): XmlNode | undefined => children(node, tag)[0];

/** One bucket over its S3 API, path-style (R2 serves every bucket under the account's endpoint). */
export class S3Bucket {
    constructor(readonly access: BucketAccess) {}

    /** Resolves when the bucket exists and the key pair may use it (HeadBucket); throws the S3Error saying which it is not. */
    async check(): Promise<void> {
        await this.request({ method: "HEAD" });
    }

    /** One page of ListObjectsV2 under `prefix`: at most `pageSize` objects (S3's maximum, 1000, by default). */
    async listObjectsPage(prefix = "", continuationToken?: string, pageSize = 1000): Promise<ObjectPage> {
        const query: Record<string, string> = { "list-type": "2", "max-keys": String(pageSize), ...(prefix ? { prefix } : {}), ...(continuationToken ? { "continuation-token": continuationToken } : {}) };
        const result = child(parseXml(await this.text({ method: "GET", query })), "ListBucketResult");
        const objects = children(result, "Contents").map((c) => ({
            key: asText(child(c, "Key")),
            size: Number(asText(child(c, "Size")) || 0),
            lastModified: asText(child(c, "LastModified")),
            etag: asText(child(c, "ETag")),
        }));
        const next = asText(child(result, "NextContinuationToken"));
        return asText(child(result, "IsTruncated")) === "true" && next ? { objects, nextContinuationToken: next } : { objects };
    }

    /** Every object under `prefix`, page after page; none when the prefix holds nothing. */
    async listObjects(prefix = "", pageSize = 1000): Promise<S3Object[]> {
        const all: S3Object[] = [];
        let token: string | undefined;
        do {
            const page = await this.listObjectsPage(prefix, token, pageSize);
            all.push(...page.objects);
            token = page.nextContinuationToken;
        } while (token);
        return all;
    }

    /** The object's size and ETag, or undefined when there is no such key (a missing bucket throws S3BucketMissing). */
    async headObject(key: string): Promise<ObjectHead | undefined> {
        const response = await this.request({ method: "HEAD", key }, [404]);
        if (response.status === 404) {
            await this.check(); // a bare 404 does not say whether the key or the bucket is missing
            return undefined;
        }
        const header = (name: string): string => response.headers.get(name) ?? "";
        return { size: Number(header("content-length") || 0), etag: header("etag"), lastModified: header("last-modified") };
    }

    /** The object's bytes, or undefined when there is no such key. */
    async getObject(key: string): Promise<Buffer | undefined> {
        const response = await this.request({ method: "GET", key }, [404]);
        if (response.status === 404) {
            const body = await response.text();
            if (xmlValues(body, "Code")[0] === "NoSuchKey") return undefined;
            throw this.failure("GET", key, 404, body);
        }
        return Buffer.from(await response.arrayBuffer());
    }

    /** Deletes the keys (DeleteObjects, 1000 a request); throws if S3 reports any key it could not delete. */
    async deleteObjects(keys: readonly string[]): Promise<void> {
        for (let start = 0; start < keys.length; start += 1000) {
            const batch = keys.slice(start, start + 1000);
            const body = new (xml().XMLBuilder)({}).build({ Delete: { Quiet: true, Object: batch.map((Key) => ({ Key })) } }) as string;
            const errors = children(child(parseXml(await this.text({ method: "POST", query: { delete: "" }, body })), "DeleteResult"), "Error");
            if (errors.length > 0) {
                const [first] = errors;
                throw new S3RequestFailed(
                    `DeleteObjects in ${this.access.bucket} left ${errors.length} keys, e.g. ${asText(child(first, "Key"))}: ${asText(child(first, "Code"))} ${asText(child(first, "Message"))}`.trim(),
                    200,
                    asText(child(first, "Code")) || undefined,
                );
            }
        }
    }

    /** One page of multipart uploads in progress (ListMultipartUploads, at most 1000). */
    async listMultipartUploads(): Promise<MultipartUpload[]> {
        const result = child(parseXml(await this.text({ method: "GET", query: { uploads: "" } })), "ListMultipartUploadsResult");
        return children(result, "Upload").map((u) => ({ key: asText(child(u, "Key")), uploadId: asText(child(u, "UploadId")) }));
    }

    async abortMultipartUpload(upload: MultipartUpload): Promise<void> {
        await this.request({ method: "DELETE", key: upload.key, query: { uploadId: upload.uploadId } });
    }

    private async text(req: S3Request): Promise<string> {
        return (await this.request(req)).text();
    }

    /** A signed request; a non-2xx answer (other than `allowed`) throws the matching S3Error after retries. */
    private async request(req: S3Request, allowed: readonly number[] = []): Promise<Response> {
        const url = new URL(this.access.endpoint);
        url.pathname = `/${uriEncode(this.access.bucket)}${req.key === undefined ? "" : `/${req.key.split("/").map(uriEncode).join("/")}`}`;
        for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.append(k, v);
        const body = req.body ?? "";
        const payloadHash = sha256Hex(body);
        // DeleteObjects requires an integrity header (S3 API Reference, DeleteObjects: Content-MD5).
        const extra: Record<string, string> = { "x-amz-content-sha256": payloadHash, ...(body ? { "content-md5": createHash("md5").update(body, "utf8").digest("base64") } : {}) };
        for (let attempt = 1; ; attempt++) {
            const headers = signV4({ method: req.method, url, headers: extra, payloadHash, region: "auto", service: "s3", ...this.access, now: new Date() });
            let response: Response;
            try {
                response = await fetch(url, { method: req.method, headers, ...(body ? { body } : {}) });
            } catch (err) {
                if (attempt < ATTEMPTS) {
                    await delay(attempt);
                    continue;
                }
                const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
                throw new S3RequestFailed(`cannot reach ${url.origin} for bucket ${this.access.bucket}: ${cause}`, 0, undefined);
            }
            if ((response.status >= 200 && response.status < 300) || allowed.includes(response.status)) return response;
            const text = req.method === "HEAD" ? "" : await response.text();
            if (RETRY_STATUSES.has(response.status) && attempt < ATTEMPTS) {
                await delay(attempt);
                continue;
            }
            throw this.failure(req.method, req.key, response.status, text);
        }
    }

    /** The typed error of a refused request: one line, the bucket and key, the status and S3's code and message; never a credential. */
    private failure(method: string, key: string | undefined, status: number, body: string): S3Error {
        const code = body ? xmlValues(body, "Code")[0] : undefined;
        const message = body ? xmlValues(body, "Message")[0] : undefined;
        const what = `${method} ${this.access.bucket}${key === undefined ? "" : `/${key}`} at ${new URL(this.access.endpoint).origin}`;
        const detail = `HTTP ${status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
        if (status === 404 && (code === "NoSuchBucket" || (code === undefined && key === undefined))) {
            return new S3BucketMissing(`bucket ${this.access.bucket} does not exist (${what}: ${detail})`, status, code);
        }
        if (status === 401 || status === 403) return new S3CredentialsRefused(`credentials refused (${what}: ${detail})`, status, code);
        return new S3RequestFailed(`${what} failed: ${detail}`, status, code);
    }
}

const delay = (attempt: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * 2 ** (attempt - 1)));

export interface EmptyResult {
    readonly deletedObjects: number;
    readonly abortedUploads: number;
    /** False when the bucket no longer exists (nothing to empty). */
    readonly bucketExisted: boolean;
}

/**
 * Aborts every multipart upload and deletes every object, re-listing from the start until the
 * bucket is empty (what was deleted is gone, so no continuation token is needed).
 */
/** Deletes every object (and aborts every multipart upload) under `prefix`: all of the bucket when it is "". */
export async function emptyBucket(access: BucketAccess, prefix = ""): Promise<EmptyResult> {
    const bucket = new S3Bucket(access);
    let abortedUploads = 0;
    let deletedObjects = 0;
    const underPrefix = async (): Promise<MultipartUpload[]> => (await bucket.listMultipartUploads()).filter((u) => u.key.startsWith(prefix));
    try {
        for (let uploads = await underPrefix(); uploads.length > 0; uploads = await underPrefix()) {
            for (const upload of uploads) await bucket.abortMultipartUpload(upload);
            abortedUploads += uploads.length;
        }
        let deleted = new Set<string>();
        for (let page = await bucket.listObjectsPage(prefix); page.objects.length > 0; page = await bucket.listObjectsPage(prefix)) {
            const keys = page.objects.map((o) => o.key);
            // R2 lists strongly consistently: keys just deleted coming back would loop forever.
            const back = keys.find((k) => deleted.has(k));
            if (back !== undefined) throw new S3RequestFailed(`DeleteObjects in ${access.bucket} reported ${back} deleted, but it is still listed`, 200, undefined);
            await bucket.deleteObjects(keys);
            deletedObjects += keys.length;
            deleted = new Set(keys);
        }
    } catch (err) {
        if (err instanceof S3BucketMissing) return { deletedObjects, abortedUploads, bucketExisted: false };
        throw err;
    }
    return { deletedObjects, abortedUploads, bucketExisted: true };
}

/** Env the delete-time emptier (components/scripts/r2-empty.ts) reads. */
export const R2_EMPTY_ENV = {
    endpoint: "R2_EMPTY_ENDPOINT",
    bucket: "R2_EMPTY_BUCKET",
    /** Only the keys under it (a review stack's share of the review pool); unset: the whole bucket. */
    prefix: "R2_EMPTY_PREFIX",
    accessKeyId: "R2_EMPTY_ACCESS_KEY_ID",
    secretAccessKey: "R2_EMPTY_SECRET_ACCESS_KEY",
} as const;

/** The emptier's command line, stored in state at create time: keep it relative and stable. */
export const R2_EMPTY_COMMAND = "node launch.js components/scripts/r2-empty";
