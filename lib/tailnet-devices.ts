// Deletes the tailnet device(s) of one host through the Tailscale API: the delete step of the
// per-host clean-up Command (components/tailnet.ts). The Tailscale provider cannot delete devices
// (tailscale/terraform-provider-tailscale#68), and a stale device keeps the hostname, so a new host
// would join as "<name>-1" (#232). It logs device ids and names only, never a credential.
// A typed fetch wrapper rather than a library: Tailscale publishes no API client for Node (its own
// is Go's tailscale/tailscale-client-go-v2); the npm ones are single-maintainer projects with little
// use, for three calls (OAuth token, list devices, delete device).
import { requiredEnv } from "./env";

export interface Device {
    readonly id: string;
    readonly hostname?: string;
    readonly name?: string;
}

/** Environment of the clean-up: the host and the stack's Tailscale credential. */
export const TAILNET_CLEANUP_ENV = {
    hostname: "TAILSCALE_HOSTNAME",
    tailnet: "TAILSCALE_TAILNET",
    apiKey: "TAILSCALE_API_KEY",
    oauthClientId: "TAILSCALE_OAUTH_CLIENT_ID",
    oauthClientSecret: "TAILSCALE_OAUTH_CLIENT_SECRET",
    /** Tests only: a local fake of the API. */
    baseUrl: "TAILSCALE_BASE_URL",
} as const;

/**
 * Ids of the devices that belong to the host: its OS hostname, or the first label of its MagicDNS
 * name (a duplicate joins as "<hostname>-1", still with the same OS hostname).
 */
export function deviceIdsForHostname(devices: readonly Device[], hostname: string): string[] {
    const wanted = hostname.toLowerCase();
    return devices
        .filter((d) => (d.hostname ?? "").toLowerCase() === wanted || (d.name ?? "").split(".")[0].toLowerCase() === wanted)
        .map((d) => d.id);
}

/** A bearer token: the API key itself, or an access token for the OAuth client. */
async function bearerToken(env: NodeJS.ProcessEnv, baseUrl: string): Promise<string> {
    const apiKey = env[TAILNET_CLEANUP_ENV.apiKey];
    if (apiKey) return apiKey;
    const body = new URLSearchParams({
        client_id: requiredEnv(env, TAILNET_CLEANUP_ENV.oauthClientId),
        client_secret: requiredEnv(env, TAILNET_CLEANUP_ENV.oauthClientSecret),
    });
    const response = await fetch(`${baseUrl}/api/v2/oauth/token`, { method: "POST", body });
    if (!response.ok) throw new Error(`OAuth token exchange failed: HTTP ${response.status}`);
    const { access_token: token } = (await response.json()) as { access_token?: string };
    if (!token) throw new Error("OAuth token exchange returned no access_token");
    return token;
}

/** Deletes the host's devices; returns their ids. A device already gone (404) is fine. */
export async function deleteHostDevices(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<string[]> {
    const baseUrl = (env[TAILNET_CLEANUP_ENV.baseUrl] || "https://api.tailscale.com").replace(/\/$/, "");
    const hostname = requiredEnv(env, TAILNET_CLEANUP_ENV.hostname);
    const tailnet = encodeURIComponent(env[TAILNET_CLEANUP_ENV.tailnet] || "-");
    const headers = { Authorization: `Bearer ${await bearerToken(env, baseUrl)}` };

    const list = await fetch(`${baseUrl}/api/v2/tailnet/${tailnet}/devices`, { headers });
    if (!list.ok) throw new Error(`listing devices failed: HTTP ${list.status}`);
    const { devices = [] } = (await list.json()) as { devices?: Device[] };
    const ids = deviceIdsForHostname(devices, hostname);
    if (ids.length === 0) log(`no tailnet device named ${hostname}`);
    for (const id of ids) {
        const response = await fetch(`${baseUrl}/api/v2/device/${encodeURIComponent(id)}`, { method: "DELETE", headers });
        // 404: already gone (deleted by hand, or an ephemeral node collected).
        if (!response.ok && response.status !== 404) throw new Error(`deleting device ${id} failed: HTTP ${response.status}`);
        log(`deleted tailnet device ${id} (${hostname})`);
    }
    return ids;
}
