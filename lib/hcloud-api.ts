// The few Hetzner Cloud API calls the host's power steps make (components/host-power.ts): find the
// server by name, send it a power action, read its status. Hetzner publishes no Node client (its
// official ones are Go and Python), so this is a small typed wrapper over fetch, following
// docs.hetzner.cloud: bearer token, `{ "error": { "code", "message" } }` bodies on failure.

/** The API's address; `HCLOUD_ENDPOINT` overrides it, as it does for Hetzner's own `hcloud` CLI. */
export const HCLOUD_API = "https://api.hetzner.cloud/v1";

export type ServerStatus = "running" | "initializing" | "starting" | "stopping" | "off" | "deleting" | "migrating" | "rebuilding" | "unknown";

export interface HcloudServer {
    readonly id: number;
    readonly name: string;
    readonly status: ServerStatus;
    readonly server_type: { readonly name: string };
    readonly public_net: { readonly ipv4: { readonly ip: string } | null };
}

/** A refused call, with Hetzner's error code (`unauthorized`, `not_found`, `locked`, ...). */
export class HcloudError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
    }
}

export interface HcloudClient {
    serverByName(name: string): Promise<HcloudServer | undefined>;
    server(id: number): Promise<HcloudServer>;
    /** Sends a power action; Hetzner answers once it is accepted, not once the server reached the state. */
    powerAction(id: number, action: "shutdown" | "poweron"): Promise<void>;
}

export function hcloudClient(token: string, endpoint: string = HCLOUD_API): HcloudClient {
    const base = endpoint.replace(/\/$/, "");
    const call = async <T>(method: "GET" | "POST", path: string): Promise<T> => {
        const response = await fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
        const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
        if (!response.ok) {
            const code = body.error?.code ?? "unknown_error";
            const why = code === "unauthorized" ? "the Hetzner token was refused (hcloudToken)" : (body.error?.message ?? "no message");
            throw new HcloudError(response.status, code, `Hetzner API ${method} ${path}: HTTP ${response.status} ${code}: ${why}`);
        }
        return body as T;
    };
    return {
        async serverByName(name) {
            const { servers } = await call<{ servers: HcloudServer[] }>("GET", `/servers?name=${encodeURIComponent(name)}`);
            return servers[0];
        },
        async server(id) {
            return (await call<{ server: HcloudServer }>("GET", `/servers/${id}`)).server;
        },
        async powerAction(id, action) {
            await call("POST", `/servers/${id}/actions/${action}`);
        },
    };
}
