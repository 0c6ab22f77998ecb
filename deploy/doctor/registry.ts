// The image a buildImage: false stack deploys, read from its registry (Docker Registry HTTP API v2 /
// OCI distribution spec): the arm64 manifest (through an image index when there is one), then its
// config blob, with the registry's own auth (basic, or the bearer-token flow of ghcr.io and Docker Hub)
// done by @snyk/docker-registry-v2-client.
import { getImageConfig, getManifest } from "@snyk/docker-registry-v2-client";
import { ImageConfig } from "./image";

export interface ImageRef {
    /** Host[:port], as Kamal's registry.server. */
    readonly server: string;
    /** Repository without the host, as Kamal's image. */
    readonly repository: string;
    readonly tag: string;
}

export const imageName = (ref: ImageRef): string => `${ref.server}/${ref.repository}:${ref.tag}`;

/** The OCI image config's `config` object (image-spec config.md), the parts the doctor reads. */
interface OciConfig {
    readonly architecture?: string;
    readonly config?: {
        readonly Env?: readonly string[];
        readonly Entrypoint?: readonly string[] | null;
        readonly Cmd?: readonly string[] | null;
        readonly User?: string;
        readonly WorkingDir?: string;
        readonly Labels?: Readonly<Record<string, string>> | null;
    };
}

/** The hosts are Hetzner cax (ARM64) servers. */
const PLATFORM = { os: "linux", architecture: "arm64" };

export type RegistryAnswer = { readonly image: ImageConfig } | { readonly problem: string } | { readonly unreachable: string };

/**
 * `pinned`: the digest the tag must still name (appImageDigest). Compared by what the hosts run, the
 * linux/arm64 image's config digest under each reference: the library's own manifest digests are
 * computed from re-serialized JSON, which need not be the bytes the registry hashed.
 * `protocol: "http:"` only for a registry on loopback in the tests.
 */
export async function readImage(ref: ImageRef, credentials: { username?: string; password?: string }, protocol?: "http:", pinned?: string): Promise<RegistryAnswer> {
    const name = imageName(ref);
    // OCI manifests and indexes too: what buildx pushes (the library asks for Docker's types only by default).
    const acceptManifest = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ].join(", ");
    const options = { ...(protocol ? { protocol } : {}), acceptManifest, timeout: 30_000 };
    try {
        const manifest = await getManifest(ref.server, ref.repository, ref.tag, credentials.username, credentials.password, options, PLATFORM);
        if (pinned !== undefined) {
            const reviewed = await getManifest(ref.server, ref.repository, pinned, credentials.username, credentials.password, options, PLATFORM).catch((err: { statusCode?: number }) => {
                if (err.statusCode === 404) return undefined;
                throw err;
            });
            if (reviewed === undefined) return { problem: `appImageDigest ${pinned} is not in ${ref.server}/${ref.repository}: the reviewed image is gone; push it again or review a new digest` };
            if (reviewed.config.digest !== manifest.config.digest) {
                return { problem: `names another image than appImageDigest ${pinned} (linux/arm64 config ${manifest.config.digest}, reviewed ${reviewed.config.digest}): the tag moved since review; refusing it before any host is touched` };
            }
        }
        const config = (await getImageConfig(ref.server, ref.repository, manifest.config.digest, credentials.username, credentials.password, options)) as OciConfig;
        if (config.architecture !== undefined && config.architecture !== PLATFORM.architecture) {
            return { problem: `is a ${config.architecture} image; the hosts are ARM64 (Hetzner cax): build it for linux/arm64` };
        }
        return { image: fromConfig(name, config) };
    } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
        if (status === 404) return { problem: `is not in the registry (${message}): push it first; buildImage: false deploys an image that already exists` };
        if (status === 401 || status === 403) return { problem: `the registry refused registryUsername's credentials (HTTP ${status}); Kamal's pull would fail the same way: check registryUsername and registryPassword` };
        if (/platform/i.test(message)) return { problem: `has no linux/arm64 image (${message}); the hosts are ARM64 (Hetzner cax): build it for linux/arm64` };
        return { unreachable: message };
    }
}

function fromConfig(name: string, oci: OciConfig): ImageConfig {
    const c = oci.config ?? {};
    const at = <T>(value: T | undefined | null, shown: string) => (value === undefined || value === null ? undefined : { value, shown });
    return {
        source: name,
        env: (c.Env ?? []).map((entry) => {
            const [key, ...rest] = entry.split("=");
            return { value: { name: key, value: rest.join("=") }, shown: `ENV ${entry}` };
        }),
        entrypoint: c.Entrypoint && c.Entrypoint.length > 0 ? at(c.Entrypoint, `ENTRYPOINT ${JSON.stringify(c.Entrypoint)}`) : undefined,
        cmd: c.Cmd && c.Cmd.length > 0 ? at(c.Cmd, `CMD ${JSON.stringify(c.Cmd)}`) : undefined,
        user: c.User ? at(c.User, `USER ${c.User}`) : undefined,
        workdir: c.WorkingDir ? at(c.WorkingDir, `WORKDIR ${c.WorkingDir}`) : undefined,
        labels: c.Labels ?? {},
    };
}
