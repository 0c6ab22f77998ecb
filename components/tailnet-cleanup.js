#!/usr/bin/env node
// @ts-check
// Deletes the tailnet device(s) of one host: the delete step of the per-host cleanup Command
// (components/tailnet.ts). The Tailscale provider cannot delete devices
// (tailscale/terraform-provider-tailscale#68), and a stale device keeps the hostname, so a new
// host would join as "<name>-1" (#232). Plain JavaScript on Node built-ins: `pulumi destroy` runs
// it from the state's command line without running (or compiling) the program.
// Environment: TAILSCALE_HOSTNAME, TAILSCALE_TAILNET, and TAILSCALE_API_KEY or
// TAILSCALE_OAUTH_CLIENT_ID + TAILSCALE_OAUTH_CLIENT_SECRET; TAILSCALE_BASE_URL for tests.
// It prints device ids and names only, never a credential.
"use strict";

/**
 * @typedef {{ id: string, hostname?: string, name?: string }} Device
 */

/**
 * Ids of the devices that belong to the host: its OS hostname, or the first label of its MagicDNS
 * name (a duplicate joins as "<hostname>-1", still with the same OS hostname).
 * @param {readonly Device[]} devices
 * @param {string} hostname
 * @returns {string[]}
 */
function deviceIdsForHostname(devices, hostname) {
    const wanted = hostname.toLowerCase();
    return devices
        .filter((d) => (d.hostname ?? "").toLowerCase() === wanted || (d.name ?? "").split(".")[0].toLowerCase() === wanted)
        .map((d) => d.id);
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @returns {string}
 */
function required(env, name) {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
}

/**
 * A bearer token: the API key itself, or an access token for the OAuth client.
 * @param {NodeJS.ProcessEnv} env
 * @param {string} baseUrl
 * @returns {Promise<string>}
 */
async function bearerToken(env, baseUrl) {
    if (env.TAILSCALE_API_KEY) return env.TAILSCALE_API_KEY;
    const body = new URLSearchParams({
        client_id: required(env, "TAILSCALE_OAUTH_CLIENT_ID"),
        client_secret: required(env, "TAILSCALE_OAUTH_CLIENT_SECRET"),
    });
    const response = await fetch(`${baseUrl}/api/v2/oauth/token`, { method: "POST", body });
    if (!response.ok) throw new Error(`OAuth token exchange failed: HTTP ${response.status}`);
    const { access_token: token } = /** @type {{ access_token?: string }} */ (await response.json());
    if (!token) throw new Error("OAuth token exchange returned no access_token");
    return token;
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {(line: string) => void} log
 * @returns {Promise<string[]>} the deleted device ids
 */
async function deleteHostDevices(env, log) {
    const baseUrl = (env.TAILSCALE_BASE_URL || "https://api.tailscale.com").replace(/\/$/, "");
    const hostname = required(env, "TAILSCALE_HOSTNAME");
    const tailnet = encodeURIComponent(env.TAILSCALE_TAILNET || "-");
    const headers = { Authorization: `Bearer ${await bearerToken(env, baseUrl)}` };

    const list = await fetch(`${baseUrl}/api/v2/tailnet/${tailnet}/devices`, { headers });
    if (!list.ok) throw new Error(`listing devices failed: HTTP ${list.status}`);
    const { devices = [] } = /** @type {{ devices?: Device[] }} */ (await list.json());
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

module.exports = { deviceIdsForHostname, deleteHostDevices };

if (require.main === module) {
    deleteHostDevices(process.env, (line) => console.log(line)).catch((error) => {
        console.error(`tailnet clean-up: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    });
}
