// The delete-time emptier's S3 client: SigV4 against AWS's published examples, and a full empty
// run against an in-process S3 stand-in that checks every signature.
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { emptyBucket, EMPTY_PAYLOAD_SHA256, signV4, uriEncode, xmlValues } from "../lib/s3";

const SUITE = { region: "us-east-1", service: "service", accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now: new Date("2015-08-30T12:36:00Z") };
const S3_DOC = { region: "us-east-1", service: "s3", accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", now: new Date("2013-05-24T00:00:00Z") };

describe("storage: SigV4 signer", () => {
    it("matches the AWS SigV4 test suite's get-vanilla", () => {
        const headers = signV4({ ...SUITE, method: "GET", url: new URL("https://example.amazonaws.com/"), headers: {}, payloadHash: EMPTY_PAYLOAD_SHA256 });
        assert.strictEqual(headers["x-amz-date"], "20150830T123600Z");
        assert.strictEqual(
            headers.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    });

    // Amazon S3 API Reference, "Signature Calculations for the Authorization Header", examples.
    it("matches the S3 docs' GET Object example (extra signed headers)", () => {
        const headers = signV4({
            ...S3_DOC,
            method: "GET",
            url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
            headers: { Range: "bytes=0-9", "x-amz-content-sha256": EMPTY_PAYLOAD_SHA256 },
            payloadHash: EMPTY_PAYLOAD_SHA256,
        });
        assert.match(headers.authorization, /SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41$/);
        assert.strictEqual(headers.host, undefined, "fetch sets host from the URL");
    });

    it("matches the S3 docs' GET Bucket (list objects) example (query canonicalization)", () => {
        const headers = signV4({
            ...S3_DOC,
            method: "GET",
            url: new URL("https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"),
            headers: { "x-amz-content-sha256": EMPTY_PAYLOAD_SHA256 },
            payloadHash: EMPTY_PAYLOAD_SHA256,
        });
        assert.match(headers.authorization, /Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7$/);
    });

    it("encodes as RFC 3986 and decodes XML entities", () => {
        assert.strictEqual(uriEncode("a b!'()*~"), "a%20b%21%27%28%29%2A~");
        assert.deepStrictEqual(xmlValues("<Key>a&amp;b&#x41;&#66;</Key><Key>c</Key>", "Key"), ["a&bAB", "c"]);
    });
});

/** A tiny S3: list-type=2, ?uploads, DeleteObjects, AbortMultipartUpload; verifies each signature. */
function fakeS3(objects: Set<string>, uploads: Map<string, string>, creds: { accessKeyId: string; secretAccessKey: string }) {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            const url = new URL(req.url!, `http://${req.headers.host}`);
            requests.push(`${req.method} ${url.pathname}${url.search}`);
            const expected = signV4({
                method: req.method!,
                url,
                headers: Object.fromEntries(["x-amz-content-sha256", "content-md5"].filter((h) => req.headers[h]).map((h) => [h, String(req.headers[h])])),
                payloadHash: String(req.headers["x-amz-content-sha256"]),
                region: "auto",
                service: "s3",
                ...creds,
                now: new Date(String(req.headers["x-amz-date"]).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z")),
            });
            if (req.headers.authorization !== expected.authorization) return void res.writeHead(403).end("<Error><Code>SignatureDoesNotMatch</Code></Error>");
            const [, bucket, ...keyParts] = url.pathname.split("/");
            if (bucket !== "b") return void res.writeHead(404).end("<Error><Code>NoSuchBucket</Code></Error>");
            const key = keyParts.map(decodeURIComponent).join("/");
            if (req.method === "GET" && url.searchParams.has("uploads")) {
                const page = [...uploads].slice(0, 2); // small pages exercise the loop
                return void res.end(`<ListMultipartUploadsResult>${page.map(([id, k]) => `<Upload><Key>${k}</Key><UploadId>${id}</UploadId></Upload>`).join("")}</ListMultipartUploadsResult>`);
            }
            if (req.method === "DELETE" && url.searchParams.has("uploadId")) {
                assert.strictEqual(uploads.get(url.searchParams.get("uploadId")!), key);
                uploads.delete(url.searchParams.get("uploadId")!);
                return void res.writeHead(204).end();
            }
            if (req.method === "GET" && url.searchParams.get("list-type") === "2") {
                const page = [...objects].slice(0, 3);
                return void res.end(`<ListBucketResult>${page.map((k) => `<Contents><Key>${k.replace(/&/g, "&amp;")}</Key></Contents>`).join("")}</ListBucketResult>`);
            }
            if (req.method === "POST" && url.searchParams.has("delete")) {
                assert.ok(req.headers["content-md5"], "DeleteObjects needs Content-MD5");
                for (const k of xmlValues(body, "Key")) objects.delete(k);
                return void res.end("<DeleteResult></DeleteResult>");
            }
            res.writeHead(400).end("<Error><Code>Unexpected</Code></Error>");
        });
    });
    return { server, requests };
}

describe("storage: bucket emptier", () => {
    const creds = { accessKeyId: "id123", secretAccessKey: "s3cr3t" };

    it("aborts every upload and deletes every object, page after page", async () => {
        const objects = new Set(["staging/primary/generations/0/wal/a.lz4", "k&1", "a b/c", "x", "y", "z", "w"]);
        const uploads = new Map([["u1", "p/1"], ["u2", "p/2"], ["u3", "p 3"]]);
        const { server } = fakeS3(objects, uploads, creds);
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
            const result = await emptyBucket({ endpoint, bucket: "b", ...creds });
            assert.deepStrictEqual(result, { deletedObjects: 7, abortedUploads: 3, bucketExisted: true });
            assert.strictEqual(objects.size, 0);
            assert.strictEqual(uploads.size, 0);
            assert.deepStrictEqual(await emptyBucket({ endpoint, bucket: "gone", ...creds }), { deletedObjects: 0, abortedUploads: 0, bucketExisted: false });
            await assert.rejects(emptyBucket({ endpoint, bucket: "b", ...creds, secretAccessKey: "wrong" }), /HTTP 403/);
        } finally {
            server.close();
        }
    });
});
