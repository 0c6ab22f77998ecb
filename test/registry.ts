// A real registry for the tests: Debian's docker-registry (distribution 2.8) on loopback, and images
// pushed through its HTTP API as a client does (blob upload, then manifest), no Docker daemon needed.
import { ChildProcess, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { gzipSync } from "zlib";

export interface TestRegistry {
    /** `127.0.0.1:<port>`, as Kamal's registry.server. */
    readonly server: string;
    readonly stop: () => void;
}

const freePort = (): Promise<number> =>
    new Promise((resolve, reject) => {
        const server = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
        server.on("error", reject);
    });

/** Starts the registry with its storage in `dir`; resolves once /v2/ answers. */
export async function startRegistry(dir: string): Promise<TestRegistry> {
    const port = await freePort();
    const config = path.join(dir, "registry.yml");
    fs.writeFileSync(config, ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${dir}/data`, "http:", `  addr: 127.0.0.1:${port}`, ""].join("\n"));
    const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
    const server = `127.0.0.1:${port}`;
    const stop = (): void => void child.kill();
    for (let i = 0; i < 100; i++) {
        const up = await fetch(`http://${server}/v2/`).then((r) => r.ok, () => false);
        if (up) return { server, stop };
        await new Promise((r) => setTimeout(r, 100));
    }
    stop();
    throw new Error("docker-registry did not answer on /v2/");
}

const digest = (body: Buffer): string => `sha256:${createHash("sha256").update(body).digest("hex")}`;

async function pushBlob(server: string, repository: string, body: Buffer): Promise<string> {
    const start = await fetch(`http://${server}/v2/${repository}/blobs/uploads/`, { method: "POST" });
    if (start.status !== 202) throw new Error(`blob upload refused: ${start.status}`);
    const location = new URL(start.headers.get("location")!, `http://${server}`);
    location.searchParams.set("digest", digest(body));
    const put = await fetch(location, { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
    if (put.status !== 201) throw new Error(`blob upload failed: ${put.status} ${await put.text()}`);
    return digest(body);
}

async function putManifest(server: string, repository: string, reference: string, mediaType: string, manifest: unknown): Promise<{ digest: string; size: number }> {
    const body = Buffer.from(JSON.stringify(manifest));
    const put = await fetch(`http://${server}/v2/${repository}/manifests/${reference}`, { method: "PUT", body, headers: { "content-type": mediaType } });
    if (put.status !== 201) throw new Error(`manifest refused: ${put.status} ${await put.text()}`);
    return { digest: digest(body), size: body.length };
}

/** The OCI image config's `config` (image-spec config.md). */
export interface ImageSettings {
    readonly Env?: string[];
    readonly Entrypoint?: string[];
    readonly Cmd?: string[];
    readonly User?: string;
    readonly WorkingDir?: string;
    readonly Labels?: Record<string, string>;
}

const OCI = { manifest: "application/vnd.oci.image.manifest.v1+json", index: "application/vnd.oci.image.index.v1+json", config: "application/vnd.oci.image.config.v1+json", layer: "application/vnd.oci.image.layer.v1.tar+gzip" };

/**
 * Pushes `repository:tag`: one image per architecture, behind an OCI image index when there are
 * several (as `docker buildx --platform linux/amd64,linux/arm64` pushes them). Returns the digest
 * the tag names (the manifest's, or the index's).
 */
export async function pushImage(server: string, repository: string, tag: string, settings: ImageSettings, architectures: string[] = ["arm64"]): Promise<string> {
    const layer = gzipSync(Buffer.alloc(1024)); // an empty tar
    const layerDigest = await pushBlob(server, repository, layer);
    const manifests = [];
    for (const architecture of architectures) {
        const config = Buffer.from(JSON.stringify({ architecture, os: "linux", config: settings, rootfs: { type: "layers", diff_ids: [digest(Buffer.alloc(1024))] } }));
        const configDigest = await pushBlob(server, repository, config);
        const manifest = { schemaVersion: 2, mediaType: OCI.manifest, config: { mediaType: OCI.config, digest: configDigest, size: config.length }, layers: [{ mediaType: OCI.layer, digest: layerDigest, size: layer.length }] };
        const reference = architectures.length === 1 ? tag : digest(Buffer.from(JSON.stringify(manifest)));
        const pushed = await putManifest(server, repository, reference, OCI.manifest, manifest);
        manifests.push({ mediaType: OCI.manifest, digest: pushed.digest, size: pushed.size, platform: { architecture, os: "linux" } });
    }
    if (architectures.length === 1) return manifests[0].digest;
    return (await putManifest(server, repository, tag, OCI.index, { schemaVersion: 2, mediaType: OCI.index, manifests })).digest;
}
