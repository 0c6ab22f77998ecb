// The stack's Cloudflare edge: a remotely-managed tunnel (the deploy step hands its connector token
// to cloudflared on the host), its ingress rules, a proxied CNAME per hostname and, in `acme` mode,
// a script-less Workers route per hostname on the challenge path. See docs/edge.md for the ACME
// layers and why the zone's http_config_settings rule is not one of them.
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config/settings";
import { stackPrefix } from "../lib/naming";
import { TUNNEL_CLEANUP_ENV } from "../lib/tunnel-connections";
import { acmeWorkersRoutePattern, renderIngress, renderIngressYaml } from "../renderers/tunnel";
import { deleteStep } from "./delete-step";

type EdgeSettings = Pick<Settings, "project" | "app" | "stack" | "protect" | "hostnames" | "cloudflare">;

export interface EdgeArgs {
    /** The validated stack settings (hostnames, account/zone ids, TLS mode). */
    readonly settings: EdgeSettings;
    /** The stack's Cloudflare API token: the delete-time connection clean-up calls the API with it. */
    readonly apiToken: pulumi.Input<string>;
}

export const TUNNEL_CLEANUP_COMMAND = "node launch.js components/scripts/tunnel-cleanup";

/** The CNAME target of a tunnel: Cloudflare resolves `<uuid>.cfargotunnel.com` to its connectors. */
export function tunnelCname(tunnelId: string): string {
    return `${tunnelId}.cfargotunnel.com`;
}

export class Edge extends pulumi.ComponentResource {
    /** The tunnel's UUID. */
    readonly tunnelId: pulumi.Output<string>;
    /** The connector token cloudflared runs with (`cloudflared tunnel run --token-file`); secret. */
    readonly tunnelToken: pulumi.Output<string>;
    /** `https://<primary hostname>`. */
    readonly appUrl: pulumi.Output<string>;
    /** The ingress rules as cloudflared YAML, for review (artifact edge/tunnel-ingress.yml). */
    readonly ingressYaml: pulumi.Output<string>;
    /** What routes visitors to the host: the tunnel's ingress and the proxied DNS records. */
    readonly routing: readonly pulumi.Resource[];
    /**
     * The tunnel's connection clean-up: the server depends on it, so on destroy the host (and its
     * cloudflared) goes first, then the connections, then the tunnel.
     */
    readonly deleteAfterServer: readonly pulumi.Resource[];

    constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:edge:Edge", name, {}, opts);
        const { settings } = args;
        const { accountId, zoneId, tlsMode } = settings.cloudflare;
        // What must survive a mistaken `pulumi destroy` on production; review stacks never protect.
        const kept = { parent: this, protect: settings.protect };

        const tunnel = new cloudflare.ZeroTrustTunnelCloudflared(
            `${name}-tunnel`,
            { accountId, name: stackPrefix(settings), configSrc: "cloudflare" },
            kept,
        );
        this.tunnelId = tunnel.id;
        // Depends on the tunnel (through its id), so Pulumi runs this delete step before deleting it.
        const connectionCleanup = deleteStep(
            `${name}-tunnel-connections-cleanup`,
            {
                command: TUNNEL_CLEANUP_COMMAND,
                environment: {
                    [TUNNEL_CLEANUP_ENV.accountId]: accountId,
                    [TUNNEL_CLEANUP_ENV.tunnelId]: tunnel.id,
                    [TUNNEL_CLEANUP_ENV.apiToken]: pulumi.secret(args.apiToken),
                },
            },
            kept,
        );
        this.deleteAfterServer = [connectionCleanup];
        // The SDK does not mark the token secret; it is one (anyone holding it can serve the app).
        this.tunnelToken = pulumi.secret(
            cloudflare.getZeroTrustTunnelCloudflaredTokenOutput({ accountId, tunnelId: tunnel.id }, { parent: this }).token,
        );

        const ingress = renderIngress(settings.hostnames, tlsMode);
        const tunnelConfig = new cloudflare.ZeroTrustTunnelCloudflaredConfig(
            `${name}-tunnel-config`,
            { accountId, tunnelId: tunnel.id, source: "cloudflare", config: { ingresses: ingress } },
            { parent: this },
        );
        this.ingressYaml = pulumi.output(renderIngressYaml(ingress));

        // Named by hostname, so reordering hostnames (a new primary) replaces nothing.
        const dnsRecords = settings.hostnames.map(
            (hostname) =>
                new cloudflare.DnsRecord(
                    `${name}-dns-${hostname}`,
                    {
                        zoneId,
                        name: hostname,
                        type: "CNAME",
                        content: tunnel.id.apply(tunnelCname),
                        proxied: true,
                        ttl: 1, // "automatic": proxied records are answered with Cloudflare's own TTL anyway
                        comment: `${settings.project} stack ${settings.stack}: tunnel ${stackPrefix(settings)}`,
                    },
                    kept,
                ),
        );
        this.routing = [tunnelConfig, ...dnsRecords];

        if (tlsMode === "acme") {
            for (const hostname of settings.hostnames) {
                // No script: this more specific route keeps any zone Worker off the challenge path.
                new cloudflare.WorkersRoute(`${name}-acme-route-${hostname}`, { zoneId, pattern: acmeWorkersRoutePattern(hostname) }, { parent: this });
            }
        }
        this.appUrl = pulumi.output(`https://${settings.hostnames[0]}`);
        this.registerOutputs({ tunnelId: this.tunnelId, tunnelToken: this.tunnelToken, appUrl: this.appUrl, ingressYaml: this.ingressYaml });
    }
}
