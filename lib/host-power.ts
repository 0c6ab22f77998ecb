// The host's power around the two in-place changes that power a Hetzner server off: a server type
// change (terraform-provider-hcloud internal/server/resource.go `resourceServerUpdate`: a hard
// `Poweroff` when running, then `ChangeType`, and no power-on afterwards) and a public IPv4 change
// (`updatePublicNet`: a hard `Poweroff`, then power-on). Before such a change the server is shut
// down cleanly (ACPI: systemd stops Docker, so every container gets SIGTERM and Litestream makes its
// final sync, litestream db.go `Close`), so the provider finds it off and pulls no plug; afterwards
// it is powered on again. Run by the Commands of components/host-power.ts.
import type { ApiServer, ServerStatus } from "./hcloud-api";

/** The three calls the steps make (lib/hcloud-api.ts), bound to the stack's token. */
export interface HcloudClient {
    serverByName(name: string): Promise<ApiServer | undefined>;
    server(id: number): Promise<ApiServer>;
    powerAction(id: number, action: "shutdown" | "poweron"): Promise<void>;
}

/** Environment of components/scripts/host-power.ts. */
export const HOST_POWER_ENV = {
    token: "HCLOUD_TOKEN",
    server: "RAILS_STACK_SERVER_NAME",
    serverType: "RAILS_STACK_SERVER_TYPE",
    publicIpv4: "RAILS_STACK_PUBLIC_IPV4",
    waitSeconds: "RAILS_STACK_POWER_WAIT_SECONDS",
    pollSeconds: "RAILS_STACK_POWER_POLL_SECONDS",
} as const;

/** What the server will be after the update, as the program configures it. */
export interface PowerTarget {
    readonly name: string;
    readonly serverType: string;
    readonly publicIpv4: boolean;
}

export interface Waiting {
    readonly timeoutSeconds: number;
    readonly pollSeconds: number;
    readonly sleep: (seconds: number) => Promise<void>;
}

/** The changes of this update that the provider makes with the server powered off. */
export function powerOffChanges(server: ApiServer, target: PowerTarget): string[] {
    const changes: string[] = [];
    if (server.server_type.name !== target.serverType) changes.push(`its type ${server.server_type.name} → ${target.serverType}`);
    const hasIpv4 = server.public_net.ipv4 !== null;
    if (hasIpv4 !== target.publicIpv4) changes.push(`its public IPv4 ${hasIpv4 ? "on → off" : "off → on"}`);
    return changes;
}

async function waitForStatus(client: HcloudClient, server: ApiServer, wanted: ServerStatus, waiting: Waiting, why: string): Promise<void> {
    for (let waited = 0; ; waited += waiting.pollSeconds) {
        const { status } = await client.server(server.id);
        if (status === wanted) return;
        if (waited >= waiting.timeoutSeconds) throw new Error(`${server.name} is still ${status} after ${waiting.timeoutSeconds}s: ${why}`);
        await waiting.sleep(waiting.pollSeconds);
    }
}

/** Before the server's update: a clean shutdown when the update would power it off. Returns what it did. */
export async function stopBeforeChange(client: HcloudClient, target: PowerTarget, waiting: Waiting, log: (line: string) => void): Promise<string> {
    const server = await client.serverByName(target.name);
    if (!server) return `${target.name} does not exist yet: nothing to stop`;
    const changes = powerOffChanges(server, target);
    if (changes.length === 0) return `${target.name}: this update does not power it off`;
    if (server.status === "off") return `${target.name} is already off before ${changes.join(" and ")}`;
    log(`shutting ${target.name} down cleanly before ${changes.join(" and ")} (containers stop, Litestream makes its last sync)`);
    await client.powerAction(server.id, "shutdown");
    await waitForStatus(
        client,
        server,
        "off",
        waiting,
        "it did not finish an ACPI shutdown, so the update stops here rather than let the provider cut its power; look at its console (Hetzner Cloud Console), shut it down by hand, then run pulumi up again",
    );
    return `${target.name} shut down cleanly before ${changes.join(" and ")}`;
}

/** After the server's update: powered on again if the update left it off. Returns what it did. */
export async function startAfterChange(client: HcloudClient, name: string, waiting: Waiting, log: (line: string) => void): Promise<string> {
    const server = await client.serverByName(name);
    if (!server) throw new Error(`${name} does not exist, though the update just created or changed it`);
    if (server.status === "running") return `${name} is running`;
    if (server.status === "off") {
        log(`powering ${name} on again`);
        await client.powerAction(server.id, "poweron");
    }
    await waitForStatus(client, server, "running", waiting, "it did not start; look at its console (Hetzner Cloud Console)");
    return `${name} is running again`;
}
