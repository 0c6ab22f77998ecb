// The stack's Hetzner hosts: ARM64 servers per role behind a no-inbound-TCP firewall, a per-stack
// SSH key, spread placement groups, the storage volume on web host 1, and each host's tailnet key
// and destroy-time device clean-up (components/tailnet.ts).
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";
import { createHash } from "crypto";
import { HostBootFacts, renderUserData } from "../cloud-init/user-data";
import type { Secrets } from "../config/load";
import type { Role, Settings } from "../config/settings";
import { firewallName, hetznerLabels, hostName, placementGroupName, sshKeyName, volumeName } from "../lib/naming";
import { STORAGE_HOST_PATH } from "../lib/paths";
import { unusableSshPublicKey } from "../lib/unusable-ssh-key";
import { tailnetDeviceCleanup, tailnetKeyArgs } from "./tailnet";

/** The renderer targets Ubuntu 24.04 (noble); Hetzner resolves the ARM64 build for cax types. */
export const SERVER_IMAGE = "ubuntu-24.04";
/** Hetzner's cap on servers in one spread placement group. */
export const PLACEMENT_GROUP_MAX = 10;
/** Tailscale's direct-connection (WireGuard) port. */
export const TAILSCALE_UDP_PORT = "41641";

export interface HostSpec {
    /** Server name = hostname = Tailscale hostname. */
    readonly name: string;
    readonly role: Role;
    /** 1-based within the role. */
    readonly index: number;
}

export interface HostOutput {
    readonly name: string;
    readonly role: Role;
    /** MagicDNS short name; the full name is <name>.<tailnet DNS name>.ts.net. */
    readonly tailnetHostname: string;
    readonly ipv4: string;
    readonly ipv6: string;
    readonly serverId: string;
}

const ROLES: readonly Role[] = ["web", "job"];

/** Every host of the stack, web hosts first. */
export function hostSpecs(settings: Settings): HostSpec[] {
    return ROLES.flatMap((role) =>
        Array.from({ length: settings.hetzner.roles[role].count }, (_, i) => ({ name: hostName(settings, role, i + 1), role, index: i + 1 })),
    );
}

/**
 * Spread groups per role, in chunks of PLACEMENT_GROUP_MAX by host index (adding hosts never moves
 * an existing one), only when the stack has more than one server.
 */
export function placementGroups(settings: Settings): { readonly name: string; readonly role: Role; readonly hosts: readonly string[] }[] {
    const hosts = hostSpecs(settings);
    if (hosts.length <= 1) return [];
    return ROLES.flatMap((role) => {
        const members = hosts.filter((h) => h.role === role).map((h) => h.name);
        const chunks = Math.ceil(members.length / PLACEMENT_GROUP_MAX);
        return Array.from({ length: chunks }, (_, k) => ({
            name: placementGroupName(settings, role, k + 1),
            role,
            hosts: members.slice(k * PLACEMENT_GROUP_MAX, (k + 1) * PLACEMENT_GROUP_MAX),
        }));
    });
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
 * The replacement policy, in one place. Persistent stacks ignore user-data changes (a change would
 * replace the server: new disk, reboot) unless rollHosts is set; review stacks always roll.
 * Replacement deletes first (the name is unique, web-1 must release the volume) after a clean
 * shutdown. Protected stacks also get Pulumi `protect`.
 */
export function serverResourceOptions(settings: Pick<Settings, "protect" | "hetzner">): pulumi.CustomResourceOptions {
    return {
        protect: settings.protect,
        deleteBeforeReplace: true,
        ...(settings.hetzner.replaceOnUserDataChange ? {} : { ignoreChanges: ["userData"] }),
    };
}

export interface HostsArgs {
    /** Validated stack settings. */
    readonly settings: Settings;
    /** Stack secrets: the Tailscale credential of the device clean-up. */
    readonly secrets: Secrets;
    /** Cloudflare tunnel token (secret), run by cloudflared on every web host. */
    readonly tunnelToken: pulumi.Input<string>;
}

export class Hosts extends pulumi.ComponentResource {
    /** Per host: name, role, tailnet hostname, public IPs, server id. */
    readonly hosts: pulumi.Output<HostOutput[]>;
    readonly volumeId: pulumi.Output<string>;
    readonly volumeMountPath: string;
    /** Rendered user-data (secret) by server name: the exact value each server receives. */
    readonly userData: Readonly<Record<string, pulumi.Output<string>>>;

    constructor(name: string, args: HostsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:hosts:Hosts", name, {}, opts);
        const { settings, secrets } = args;
        const { hetzner } = settings;
        const child = { parent: this };
        const labels = (role?: Role) => hetznerLabels(settings, role);

        const sshKey = new hcloud.SshKey(
            `${name}-ssh-key`,
            { name: sshKeyName(settings), publicKey: unusableSshPublicKey(settings.app, settings.stack), labels: labels() },
            child,
        );
        const firewall = new hcloud.Firewall(`${name}-firewall`, { name: firewallName(settings), labels: labels(), rules: firewallRules(settings) }, child);
        const groupOf = new Map<string, pulumi.Output<number>>();
        for (const group of placementGroups(settings)) {
            const pg = new hcloud.PlacementGroup(group.name, { name: group.name, type: "spread", labels: labels(group.role) }, child);
            for (const host of group.hosts) groupOf.set(host, pg.id.apply(Number));
        }
        const volume = new hcloud.Volume(
            `${name}-volume`,
            {
                name: volumeName(settings),
                size: hetzner.volumeSizeGb,
                location: hetzner.location,
                format: "ext4",
                automount: false,
                labels: labels("web"),
                deleteProtection: settings.protect,
            },
            { ...child, protect: settings.protect },
        );
        const volumeId = volume.id.apply(Number);

        const serverOptions = serverResourceOptions(settings);
        const userData: Record<string, pulumi.Output<string>> = {};
        const outputs: pulumi.Output<HostOutput>[] = [];
        for (const host of hostSpecs(settings)) {
            const carriesVolume = host.role === "web" && host.index === 1;
            const bootFacts = (tailscaleAuthKey: string, tunnelToken: string | undefined, volId: number | undefined): HostBootFacts => ({
                hostname: host.name,
                role: host.role,
                sshPublicKeys: hetzner.sshPublicKeys,
                tailscaleTags: settings.tailscale.tags,
                tailscaleDirectUdp: hetzner.tailscaleDirectUdp,
                tailscaleAuthKey,
                tunnelToken,
                volume: volId === undefined ? undefined : { id: volId, mountPath: STORAGE_HOST_PATH },
            });
            const placeholderBoot = renderUserData(bootFacts("", host.role === "web" ? "" : undefined, carriesVolume ? 0 : undefined));
            const bootFingerprint = createHash("sha256").update(placeholderBoot).digest("hex").slice(0, 8);
            const key = new tailscale.TailnetKey(`${host.name}-tailnet-key`, tailnetKeyArgs(settings, host.name, bootFingerprint), child);
            const tunnelToken = host.role === "web" ? args.tunnelToken : undefined;
            userData[host.name] = pulumi.secret(
                pulumi.all([key.key, tunnelToken, carriesVolume ? volumeId : undefined]).apply(([authKey, token, volId]) =>
                    renderUserData(bootFacts(authKey, token, volId)),
                ),
            );
            const server = new hcloud.Server(
                host.name,
                {
                    name: host.name,
                    image: SERVER_IMAGE,
                    serverType: hetzner.roles[host.role].serverType,
                    location: hetzner.location,
                    labels: labels(host.role),
                    firewallIds: [firewall.id.apply(Number)],
                    publicNets: [{ ipv4Enabled: hetzner.publicIpv4, ipv6Enabled: true }],
                    sshKeys: [sshKey.id],
                    placementGroupId: groupOf.get(host.name),
                    userData: userData[host.name],
                    // Hetzner wants both equal; they also block deletion through the API and console.
                    deleteProtection: settings.protect,
                    rebuildProtection: settings.protect,
                    shutdownBeforeDeletion: true,
                },
                { ...child, ...serverOptions },
            );
            if (carriesVolume) {
                new hcloud.VolumeAttachment(
                    `${name}-volume-attachment`,
                    { serverId: server.id.apply(Number), volumeId, automount: false },
                    { ...child, deleteBeforeReplace: true },
                );
            }
            tailnetDeviceCleanup(`${host.name}-tailnet-cleanup`, { hostname: host.name, serverId: server.id, settings, secrets }, child);
            outputs.push(
                pulumi.all([server.ipv4Address, server.ipv6Address, server.id]).apply(([ipv4, ipv6, serverId]) => ({
                    name: host.name,
                    role: host.role,
                    tailnetHostname: host.name,
                    ipv4,
                    ipv6,
                    serverId,
                })),
            );
        }

        this.hosts = pulumi.all(outputs);
        this.volumeId = volume.id;
        this.volumeMountPath = STORAGE_HOST_PATH;
        this.userData = userData;
        this.registerOutputs({ hosts: this.hosts, volumeId: this.volumeId, volumeMountPath: this.volumeMountPath });
    }
}
