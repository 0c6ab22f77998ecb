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
import { hostPowerStep } from "./host-power";
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
 * the new server. A replacement deletes first (the name is unique), after a clean shutdown
 * (`shutdownBeforeDeletion`); the volume, attached through its own `serverId`, is updated in place
 * afterwards, so nothing detaches it from a running server (docs/hosts.md, "Replacing the host").
 * Protected stacks get Pulumi `protect`, which turns a replacement into a deliberate step.
 */
export function serverResourceOptions(settings: Pick<Settings, "protect">): pulumi.CustomResourceOptions {
    return { protect: settings.protect, deleteBeforeReplace: true };
}

/**
 * What the server is created from, minus the auth key: its user-data and every other input whose
 * change replaces a Hetzner server (image, location, SSH keys). The auth key is minted for exactly
 * this, so any replacement boots with a key nobody used.
 */
export function bootFingerprint(settings: Pick<Settings, "app" | "stack" | "hetzner" | "tailscale" | "host">, hostname: string): string {
    const userData = renderUserData(bootFacts(settings, hostname, ""));
    return createHash("sha256")
        .update(JSON.stringify([userData, SERVER_IMAGE, settings.hetzner.location, unusableSshPublicKey(settings.app, settings.stack)]))
        .digest("hex")
        .slice(0, 8);
}

function bootFacts(settings: Pick<Settings, "hetzner" | "tailscale" | "host">, hostname: string, tailscaleAuthKey: string): HostBootFacts {
    return { hostname, tailscaleTags: settings.tailscale.tags, tailscaleDirectUdp: settings.hetzner.tailscaleDirectUdp, tailscaleAuthKey, rebootWindow: settings.host.rebootWindow };
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
    /** What the app needs of the host before a deploy: the server, powered on, with its volume attached. */
    readonly ready: readonly pulumi.Resource[];
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
        const key = new tailscale.TailnetKey(`${hostname}-tailnet-key`, tailnetKeyArgs(settings, hostname, bootFingerprint(settings, hostname)), child);
        this.userData = pulumi.secret(key.key.apply((authKey) => renderUserData(bootFacts(settings, hostname, authKey))));
        const power = { settings, serverName: hostname, hcloudToken: secrets.hcloudToken };
        const powerOff = hostPowerStep(`${hostname}-power-off`, "stop", power, child);
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
                // A type change keeps the disk, so a smaller type stays possible (Hetzner change_type
                // `upgrade_disk: false`); the disk holds nothing the volume does not.
                keepDisk: true,
            },
            { ...child, ...serverResourceOptions(settings), dependsOn: [powerOff, ...args.deleteAfterServer] },
        );
        const poweredOn = hostPowerStep(`${hostname}-power-on`, "start", power, { ...child, dependsOn: [server] });
        // Attached through its own serverId, which the provider updates in place (detach, attach):
        // a replacement shuts the old server down and deletes it first, then the volume follows the
        // new one. A separate VolumeAttachment would be replaced with the server, and Pulumi deletes
        // dependents of a delete-before-replace resource first: a detach under a running database.
        const volume = new hcloud.Volume(
            `${name}-volume`,
            {
                name: volumeName(settings),
                size: hetzner.volumeSizeGb,
                location: hetzner.location,
                serverId: server.id.apply(Number),
                format: "ext4",
                automount: false,
                labels,
                deleteProtection: settings.protect,
            },
            { ...child, protect: settings.protect },
        );
        tailnetDeviceCleanup(`${hostname}-tailnet-cleanup`, { hostname, serverId: server.id, settings, secrets }, child);

        this.server = server;
        this.ready = [server, poweredOn, volume];
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
