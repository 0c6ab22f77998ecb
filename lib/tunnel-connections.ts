// Removes every connector of a tunnel through the Cloudflare API: the delete step of the edge's
// clean-up Command (components/edge.ts). The provider deletes a tunnel with a bare DELETE, which
// Cloudflare refuses while connections are listed ("Cannot delete tunnel because it has active
// connections", terraform-provider-cloudflare#5255); a host just deleted can stay listed for a while.
import type { APIError } from "cloudflare/core/error";
import type * as TreeShakable from "cloudflare/tree-shakable";
import type * as ConnectionsModule from "cloudflare/resources/zero-trust/tunnels/cloudflared/connections";
import { requiredEnv } from "./env";

/** Environment of the clean-up: the tunnel and the stack's Cloudflare API token. */
export const TUNNEL_CLEANUP_ENV = {
    accountId: "CLOUDFLARE_ACCOUNT_ID",
    tunnelId: "CLOUDFLARE_TUNNEL_ID",
    apiToken: "CLOUDFLARE_API_TOKEN",
    /** Tests only: a local fake of the API. */
    baseUrl: "CLOUDFLARE_BASE_URL",
} as const;

/**
 * The official client (cloudflare/cloudflare-typescript), with only the tunnel connections
 * resource: `connections.delete(tunnelId, {account_id})` is `DELETE
 * /accounts/{account_id}/cfd_tunnel/{tunnel_id}/connections`
 * (src/resources/zero-trust/tunnels/cloudflared/connections.ts). Loaded here, not at module load:
 * the Pulumi program imports this module for TUNNEL_CLEANUP_ENV at start-up.
 */
function connectionsClient(env: NodeJS.ProcessEnv) {
    /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
    const { createClient } = require("cloudflare/tree-shakable") as typeof TreeShakable;
    const { BaseConnections } = require("cloudflare/resources/zero-trust/tunnels/cloudflared/connections") as typeof ConnectionsModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    return createClient({
        apiToken: requiredEnv(env, TUNNEL_CLEANUP_ENV.apiToken),
        // Only the stack's token: the client would otherwise add ambient CLOUDFLARE_API_KEY/EMAIL credentials.
        apiKey: null,
        apiEmail: null,
        userServiceKey: null,
        baseURL: env[TUNNEL_CLEANUP_ENV.baseUrl] || null,
        // Its debug log (CLOUDFLARE_LOG=debug) prints requests; this step's log is kept to warnings.
        logLevel: "warn",
        resources: [BaseConnections],
    }).zeroTrust.tunnels.cloudflared.connections;
}

/** Deletes all connections of the tunnel ("Clean up Cloudflare Tunnel connections"). A tunnel already gone (404) is fine. */
export async function cleanTunnelConnections(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
    const accountId = requiredEnv(env, TUNNEL_CLEANUP_ENV.accountId);
    const tunnelId = requiredEnv(env, TUNNEL_CLEANUP_ENV.tunnelId);
    const connections = connectionsClient(env);
    try {
        // The client retries 429, 5xx and connection errors twice with back-off before it throws.
        await connections.delete(tunnelId, { account_id: accountId });
    } catch (err) {
        const status = (err as APIError).status;
        if (status === 404) return log(`tunnel ${tunnelId} does not exist; no connections to clean up`);
        throw new Error(`cleaning up the connections of tunnel ${tunnelId} failed: ${status ? `HTTP ${status}` : (err as Error).message}`);
    }
    log(`removed the connections of tunnel ${tunnelId}`);
}
