// Just enough of the S3 API to empty an R2 bucket at delete time, with Node's built-ins only
// (fetch, crypto): the emptier must run from a bare checkout during `pulumi destroy`, so it cannot
// lean on an SDK. The signer is pure and checked against AWS's published SigV4 examples.
import { createHash, createHmac } from "crypto";

const sha256Hex = (data: string): string => createHash("sha256").update(data, "utf8").digest("hex");
const hmac = (key: Buffer | string, data: string): Buffer => createHmac("sha256", key).update(data, "utf8").digest();

/** SHA-256 of an empty payload (GET and DELETE requests). */
export const EMPTY_PAYLOAD_SHA256 = sha256Hex("");

/** RFC 3986 encoding, as SigV4 canonical requests require (encodeURIComponent leaves !'()* alone). */
export function uriEncode(value: string): string {
    return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface SignRequest {
    readonly method: string;
    /** Path already URI-encoded per segment; the query is canonicalized here. */
    readonly url: URL;
    /** Headers to sign besides host and x-amz-date (e.g. x-amz-content-sha256, range). */
    readonly headers: Readonly<Record<string, string>>;
    /** Hex SHA-256 of the body. */
    readonly payloadHash: string;
    readonly region: string;
    readonly service: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly now: Date;
}

/** AWS Signature Version 4: the headers to send (host excluded: fetch derives it from the URL). */
export function signV4(req: SignRequest): Record<string, string> {
    const amzDate = req.now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    const headers: Record<string, string> = { host: req.url.host, "x-amz-date": amzDate };
    for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value.trim().replace(/\s+/g, " ");
    const names = Object.keys(headers).sort();
    const signedHeaders = names.join(";");
    const query = [...req.url.searchParams]
        .map(([k, v]) => [uriEncode(k), uriEncode(v)])
        .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join("&");
    const canonical = [req.method, req.url.pathname, query, ...names.map((n) => `${n}:${headers[n]}`), "", signedHeaders, req.payloadHash].join("\n");
    const scope = `${day}/${req.region}/${req.service}/aws4_request`;
    const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
    const key = [day, req.region, req.service, "aws4_request"].reduce<Buffer | string>((k, part) => hmac(k, part), `AWS4${req.secretAccessKey}`);
    const signature = hmac(key, stringToSign).toString("hex");
    const toSend = Object.fromEntries(names.filter((n) => n !== "host").map((n) => [n, headers[n]]));
    return {
        ...toSend,
        authorization: `AWS4-HMAC-SHA256 Credential=${req.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
}

const ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const xmlDecode = (s: string): string =>
    s.replace(/&(?:#x([0-9a-f]+)|#(\d+)|([a-z]+));/gi, (whole, hex?: string, dec?: string, name?: string) =>
        hex ? String.fromCodePoint(parseInt(hex, 16)) : dec ? String.fromCodePoint(Number(dec)) : (ENTITIES[name!] ?? whole),
    );
const xmlEncode = (s: string): string => s.replace(/[&<>"']/g, (c) => `&${Object.keys(ENTITIES).find((k) => ENTITIES[k] === c)};`);

/** Text of every <tag> element (S3 list responses are flat enough for this). */
export function xmlValues(xml: string, tag: string): string[] {
    return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => xmlDecode(m[1]));
}

export interface BucketAccess {
    /** R2's S3 endpoint, e.g. https://<account>.r2.cloudflarestorage.com. */
    readonly endpoint: string;
    readonly bucket: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
}

export interface EmptyResult {
    readonly deletedObjects: number;
    readonly abortedUploads: number;
    /** False when the bucket no longer exists (nothing to empty). */
    readonly bucketExisted: boolean;
}

type Fetch = (url: URL, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text(): Promise<string> }>;

class NoSuchBucket extends Error {}

/** A signed path-style request; throws on any non-2xx answer. */
async function s3(access: BucketAccess, fetchImpl: Fetch, method: string, key: string | null, query: Record<string, string>, body = ""): Promise<string> {
    const url = new URL(access.endpoint);
    url.pathname = `/${uriEncode(access.bucket)}${key === null ? "" : `/${key.split("/").map(uriEncode).join("/")}`}`;
    for (const [k, v] of Object.entries(query)) url.searchParams.append(k, v);
    const payloadHash = sha256Hex(body);
    const extra: Record<string, string> = { "x-amz-content-sha256": payloadHash };
    // DeleteObjects requires an integrity header.
    if (body) extra["content-md5"] = createHash("md5").update(body, "utf8").digest("base64");
    const headers = signV4({ method, url, headers: extra, payloadHash, region: "auto", service: "s3", ...access, now: new Date() });
    const response = await fetchImpl(url, { method, headers, ...(body ? { body } : {}) });
    const text = await response.text();
    if (response.status === 404 && text.includes("NoSuchBucket")) throw new NoSuchBucket(access.bucket);
    if (response.status < 200 || response.status > 299) {
        throw new Error(`${method} ${url.pathname}?${url.searchParams} -> HTTP ${response.status}: ${text.slice(0, 500)}`);
    }
    return text;
}

/**
 * Aborts every multipart upload and deletes every object, 1000 at a time, re-listing from the start
 * until the bucket is empty (what was deleted is gone, so no continuation token is needed).
 */
export async function emptyBucket(access: BucketAccess, fetchImpl: Fetch = fetch as unknown as Fetch): Promise<EmptyResult> {
    let abortedUploads = 0;
    let deletedObjects = 0;
    try {
        for (;;) {
            const listing = await s3(access, fetchImpl, "GET", null, { uploads: "" });
            const uploads = xmlValues(listing, "Upload").map((u) => ({ key: xmlValues(u, "Key")[0], id: xmlValues(u, "UploadId")[0] }));
            if (uploads.length === 0) break;
            for (const u of uploads) await s3(access, fetchImpl, "DELETE", u.key, { uploadId: u.id });
            abortedUploads += uploads.length;
        }
        for (;;) {
            const listing = await s3(access, fetchImpl, "GET", null, { "list-type": "2", "max-keys": "1000" });
            const keys = xmlValues(listing, "Key");
            if (keys.length === 0) break;
            const body = `<Delete><Quiet>true</Quiet>${keys.map((k) => `<Object><Key>${xmlEncode(k)}</Key></Object>`).join("")}</Delete>`;
            const answer = await s3(access, fetchImpl, "POST", null, { delete: "" }, body);
            const errors = xmlValues(answer, "Error");
            if (errors.length > 0) throw new Error(`DeleteObjects failed for ${errors.length} keys, e.g. ${errors[0].slice(0, 300)}`);
            deletedObjects += keys.length;
        }
    } catch (err) {
        if (err instanceof NoSuchBucket) return { deletedObjects, abortedUploads, bucketExisted: false };
        throw err;
    }
    return { deletedObjects, abortedUploads, bucketExisted: true };
}

/** Env the delete-time emptier (components/scripts/r2-empty.ts) reads. */
export const R2_EMPTY_ENV = {
    endpoint: "R2_EMPTY_ENDPOINT",
    bucket: "R2_EMPTY_BUCKET",
    accessKeyId: "R2_EMPTY_ACCESS_KEY_ID",
    secretAccessKey: "R2_EMPTY_SECRET_ACCESS_KEY",
} as const;

/** The emptier's command line, stored in state at create time: keep it relative and stable. */
export const R2_EMPTY_COMMAND = "node launch.js components/scripts/r2-empty";

