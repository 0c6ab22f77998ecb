// The stack's Hetzner host: one ARM64 server behind a no-inbound-TCP firewall, a per-stack SSH key
// nobody can log in with, the storage volume (SQLite, Active Storage) attached to it, and its
// tailnet key and destroy-time device clean-up (components/tailnet.ts). One host, because every
// role that opens the SQLite databases must run where the volume is.
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";
import { createHash } from "crypto";
import { HostBootFacts, renderUserData } from "../cloud-init/user-data";
import type { Secrets } from "../config/load";
import type { Settings } from "../config/settings";
import { firewallName, hetznerLabels, hostName, sshKeyName, volumeName } from "../lib/naming";
import { STORAGE_HOST_PATH } from "../lib/paths";
import { unusableSshPublicKey } from "../lib/unusable-ssh-key";
import { orderableServerType } from "./capacity";
import { tailnetDeviceCleanup, tailnetKeyArgs } from "./tailnet";

/** The renderer targets Ubuntu 24.04 (noble); Hetzner resolves the ARM64 build for cax types. */
export const SERVER_IMAGE = "ubuntu-24.04";
/** Tailscale's direct-connection (WireGuard) port. */
export const TAILSCALE_UDP_PORT = "41641";

export interface HostOutput {
    readonly name: string;
    /** MagicDNS short name; the full name is <name>.<tailnet DNS name>.ts.net. */
    readonly tailnetHostname: string;
    readonly ipv4: string;
    readonly ipv6: string;
    readonly serverId: string;
}

/**
 * Inbound rules of the host firewall. No TCP at all: HTTP arrives through the Cloudflare tunnel and
 * SSH through Tailscale, both outbound connections. Without outbound rules Hetzner allows all egress.
 */
export function firewallRules(settings: Pick<Settings, "hetzner">): hcloud.types.input.FirewallRule[] {
    if (!settings.hetzner.tailscaleDirectUdp) return [];
    return [
        {
            direction: "in",
            protocol: "udp",
            port: TAILSCALE_UDP_PORT,
            sourceIps: ["0.0.0.0/0", "::/0"],
            description: "Tailscale direct connections",
        },
    ];
}

/**
 * The replacement policy, in one place. Any change to what the host boots with (user-data, image,
 * location, SSH key) replaces it, on every stack: data lives on the volume and in Litestream, the
 * replacement boots with a fresh auth key (its boot fingerprint) and the deploy step runs again for
 * the new server. A replacement deletes first (the name is unique, the volume must be released)
 * after a clean shutdown. Protected stacks get Pulumi `protect`, which turns a replacement into a
 * deliberate step (docs/hosts.md, "Replacing the host").
 */
export function serverResourceOptions(settings: Pick<Settings, "protect">): pulumi.CustomResourceOptions {
    return { protect: settings.protect, deleteBeforeReplace: true };
}

/**
 * What the server is created from, minus the auth key: its user-data and every other input whose
 * change replaces a Hetzner server (image, location, SSH keys). The auth key is minted for exactly
 * this, so any replacement boots with a key nobody used.
 */
export function bootFingerprint(settings: Pick<Settings, "app" | "stack" | "hetzner" | "tailscale">, hostname: string): string {
    const userData = renderUserData(bootFacts(settings, hostname, ""));
    return createHash("sha256")
        .update(JSON.stringify([userData, SERVER_IMAGE, settings.hetzner.location, unusableSshPublicKey(settings.app, settings.stack)]))
        .digest("hex")
        .slice(0, 8);
}

function bootFacts(settings: Pick<Settings, "hetzner" | "tailscale">, hostname: string, tailscaleAuthKey: string): HostBootFacts {
    return { hostname, tailscaleTags: settings.tailscale.tags, tailscaleDirectUdp: settings.hetzner.tailscaleDirectUdp, tailscaleAuthKey };
}

export interface HostsArgs {
    /** Validated stack settings. */
    readonly settings: Settings;
    /** Stack secrets: the Tailscale credential of the device clean-up. */
    readonly secrets: Secrets;
    /**
     * Delete-time clean-ups that must run only after the server is gone (a review stack's bucket
     * emptiers: a running host would write new backups into an emptied bucket; the tunnel's
     * connection clean-up: a running cloudflared reconnects). The server depends on them, so
     * `pulumi destroy` deletes it first.
     */
    readonly deleteAfterServer: readonly pulumi.Resource[];
}

export class Hosts extends pulumi.ComponentResource {
    /** The stack's server: name, tailnet hostname, public IPs, server id. */
    readonly host: pulumi.Output<HostOutput>;
    /** The server resource, for what must wait until it exists. */
    readonly server: hcloud.Server;
    /** The volume attachment: the app's storage is usable once it exists. */
    readonly volumeAttachment: hcloud.VolumeAttachment;
    readonly volumeId: pulumi.Output<string>;
    readonly volumeMountPath: string;
    /** Rendered user-data (secret): the exact value the server receives. */
    readonly userData: pulumi.Output<string>;

    constructor(name: string, args: HostsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:hosts:Hosts", name, {}, opts);
        const { settings, secrets } = args;
        const { hetzner } = settings;
        const child = { parent: this };
        const labels = hetznerLabels(settings);
        const hostname = hostName(settings);

        const sshKey = new hcloud.SshKey(
            `${name}-ssh-key`,
            { name: sshKeyName(settings), publicKey: unusableSshPublicKey(settings.app, settings.stack), labels },
            child,
        );
        const firewall = new hcloud.Firewall(`${name}-firewall`, { name: firewallName(settings), labels, rules: firewallRules(settings) }, child);
        const volume = new hcloud.Volume(
            `${name}-volume`,
            {
                name: volumeName(settings),
                size: hetzner.volumeSizeGb,
                location: hetzner.location,
                format: "ext4",
                automount: false,
                labels,
                deleteProtection: settings.protect,
            },
            { ...child, protect: settings.protect },
        );
        const volumeId = volume.id.apply(Number);

        const key = new tailscale.TailnetKey(`${hostname}-tailnet-key`, tailnetKeyArgs(settings, hostname, bootFingerprint(settings, hostname)), child);
        this.userData = pulumi.secret(key.key.apply((authKey) => renderUserData(bootFacts(settings, hostname, authKey))));
        const server = new hcloud.Server(
            hostname,
            {
                name: hostname,
                image: SERVER_IMAGE,
                serverType: orderableServerType(settings, child),
                location: hetzner.location,
                labels,
                firewallIds: [firewall.id.apply(Number)],
                publicNets: [{ ipv4Enabled: hetzner.publicIpv4, ipv6Enabled: true }],
                sshKeys: [sshKey.id],
                userData: this.userData,
                // Hetzner wants both equal; they also block deletion through the API and console.
                deleteProtection: settings.protect,
                rebuildProtection: settings.protect,
                shutdownBeforeDeletion: true,
            },
            { ...child, ...serverResourceOptions(settings), dependsOn: [...args.deleteAfterServer] },
        );
        this.volumeAttachment = new hcloud.VolumeAttachment(
            `${name}-volume-attachment`,
            { serverId: server.id.apply(Number), volumeId, automount: false },
            { ...child, deleteBeforeReplace: true },
        );
        tailnetDeviceCleanup(`${hostname}-tailnet-cleanup`, { hostname, serverId: server.id, settings, secrets }, child);

        this.server = server;
        this.host = pulumi.all([server.ipv4Address, server.ipv6Address, server.id]).apply(([ipv4, ipv6, serverId]) => ({
            name: hostname,
            tailnetHostname: hostname,
            ipv4,
            ipv6,
            serverId,
        }));
        this.volumeId = volume.id;
        this.volumeMountPath = STORAGE_HOST_PATH;
        this.registerOutputs({ host: this.host, volumeId: this.volumeId, volumeMountPath: this.volumeMountPath });
    }
}
