// Removes every connector of a tunnel through the Cloudflare API: the delete step of the edge's
// clean-up Command (components/edge.ts). The provider deletes a tunnel with a bare DELETE, which
// Cloudflare refuses while connections are listed ("Cannot delete tunnel because it has active
// connections", terraform-provider-cloudflare#5255); a host just deleted can stay listed for a while.
import { requiredEnv } from "./env";

/** Environment of the clean-up: the tunnel and the stack's Cloudflare API token. */
export const TUNNEL_CLEANUP_ENV = {
    accountId: "CLOUDFLARE_ACCOUNT_ID",
    tunnelId: "CLOUDFLARE_TUNNEL_ID",
    apiToken: "CLOUDFLARE_API_TOKEN",
    /** Tests only: a local fake of the API. */
    baseUrl: "CLOUDFLARE_BASE_URL",
} as const;

/** Deletes all connections of the tunnel ("Clean up Cloudflare Tunnel connections"). A tunnel already gone (404) is fine. */
export async function cleanTunnelConnections(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
    const baseUrl = (env[TUNNEL_CLEANUP_ENV.baseUrl] || "https://api.cloudflare.com/client/v4").replace(/\/$/, "");
    const accountId = encodeURIComponent(requiredEnv(env, TUNNEL_CLEANUP_ENV.accountId));
    const tunnelId = requiredEnv(env, TUNNEL_CLEANUP_ENV.tunnelId);
    const response = await fetch(`${baseUrl}/accounts/${accountId}/cfd_tunnel/${encodeURIComponent(tunnelId)}/connections`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${requiredEnv(env, TUNNEL_CLEANUP_ENV.apiToken)}` },
    });
    if (response.status === 404) return log(`tunnel ${tunnelId} does not exist; no connections to clean up`);
    if (!response.ok) throw new Error(`cleaning up the connections of tunnel ${tunnelId} failed: HTTP ${response.status}`);
    log(`removed the connections of tunnel ${tunnelId}`);
}
