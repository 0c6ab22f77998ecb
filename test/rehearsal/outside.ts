// What lies outside a real host, for the rehearsal host (host.ts runs this as a process of its
// own, so it answers while the test waits on a deploy): a DNS server that resolves R2's hostnames
// to this machine's end of the link and nothing else, and an S3 server (s3rver) behind TLS with a
// certificate for those hostnames. Prints "ready" once both listen.
import * as dgram from "dgram";
import * as path from "path";

/** R2's S3 hosts (lib/naming.ts: r2Endpoint): the stand-ins answer these, and only these. */
export const R2_DOMAIN = ".r2.cloudflarestorage.com";
export interface OutsideWorld {
    /** This machine's address on the link: DNS and S3 listen here. */
    readonly address: string;
    readonly s3Directory: string;
    readonly key: string;
    readonly cert: string;
    readonly credentials: readonly { readonly accessKeyId: string; readonly secretAccessKey: string }[];
    readonly buckets: readonly string[];
}

/** A DNS server: R2's hostnames resolve to `address`; every other name does not exist. */
async function dnsServer(address: string): Promise<void> {
    const socket = dgram.createSocket("udp4");
    socket.on("message", (query, peer) => {
        const labels: string[] = [];
        let offset = 12;
        while (query[offset] !== 0) {
            labels.push(query.subarray(offset + 1, offset + 1 + query[offset]).toString("latin1"));
            offset += query[offset] + 1;
        }
        const type = query.readUInt16BE(offset + 1);
        const question = query.subarray(12, offset + 5);
        const ours = labels.join(".").toLowerCase().endsWith(R2_DOMAIN);
        const answer = ours && type === 1 ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address.split(".").map(Number)]) : Buffer.alloc(0);
        const header = Buffer.alloc(12);
        query.copy(header, 0, 0, 2);
        header.writeUInt16BE(ours ? 0x8180 : 0x8183, 2); // a response; NXDOMAIN for names not ours
        header.writeUInt16BE(1, 4);
        header.writeUInt16BE(answer.length > 0 ? 1 : 0, 6);
        socket.send(Buffer.concat([header, question, answer]), peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(53, address, resolve));
}

interface ListResult {
    objects: { key: string }[];
    commonPrefixes: string[];
    isTruncated: boolean;
}
type ListObjects = (this: unknown, bucket: string, options: { delimiter?: string; prefix?: string; maxKeys?: number }) => Promise<ListResult>;

/**
 * s3rver 3.7.1 prunes every directory below the prefix that contains the delimiter while listing,
 * so a key two or more levels down never yields its common prefix: Litestream, which lists its
 * generations that way, would find none. List without the delimiter and fold the keys here.
 */
function foldCommonPrefixes(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver ships no typings
    const store = (require("s3rver/lib/stores/filesystem") as { prototype: { listObjects: ListObjects } }).prototype;
    const list = store.listObjects;
    store.listObjects = async function (bucket, options) {
        if (!options.delimiter) return list.call(this, bucket, options);
        const { delimiter, prefix = "" } = options;
        const all = await list.call(this, bucket, { ...options, delimiter: "", maxKeys: Infinity });
        const commonPrefixes = new Set<string>();
        const objects = all.objects.filter((object) => {
            const rest = object.key.slice(prefix.length);
            const at = rest.indexOf(delimiter);
            if (at >= 0) commonPrefixes.add(prefix + rest.slice(0, at + delimiter.length));
            return at < 0;
        });
        return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated: false };
    };
}

async function main(world: OutsideWorld): Promise<void> {
    foldCommonPrefixes();
    await dnsServer(world.address);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver ships no typings
    const S3rver = require("s3rver") as new (options: Record<string, unknown>) => { run(): Promise<unknown> };
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- its account registry: the keys it accepts
    const { DUMMY_ACCOUNT } = require("s3rver/lib/models/account") as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };
    for (const c of world.credentials) DUMMY_ACCOUNT.createKeyPair(c.accessKeyId, c.secretAccessKey);
    await new S3rver({
        address: world.address,
        port: 443,
        key: world.key,
        cert: world.cert,
        silent: true,
        directory: path.resolve(world.s3Directory),
        vhostBuckets: false,
        configureBuckets: world.buckets.map((name) => ({ name })),
    }).run();
    process.stdout.write("ready\n");
}

if (require.main === module) {
    main(JSON.parse(process.argv[2]) as OutsideWorld).catch((err: Error) => {
        process.stderr.write(`rehearsal stand-ins: ${err.message}\n`);
        process.exit(1);
    });
}
