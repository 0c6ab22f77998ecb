// The rules every stack of this project must keep, as Pulumi policies: run with
// `pulumi preview --policy-pack policy` (pack.ts), unit-tested in test/policy.spec.ts, and checked
// against the committed golden plans. Each guards a property the program already has, so a change
// that breaks one fails in review instead of in the cloud.
import * as cloudflare from "@pulumi/cloudflare";
import * as command from "@pulumi/command";
import * as hcloud from "@pulumi/hcloud";
import { ResourceValidationArgs, ResourceValidationPolicy, Secret, validateResourceOfType } from "@pulumi/policy";
import * as tailscale from "@pulumi/tailscale";

/** The stack a resource belongs to: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export const stackOf = (urn: string): string => urn.split(":")[2]?.split("::")[0] ?? "";

/** An env var name that holds a credential. */
export const SECRET_LOOKING = /(TOKEN|SECRET|PASSWORD|PASSPHRASE|MASTER_KEY|ACCESS_KEY|API_KEY|PRIVATE_KEY)/i;

const isProduction = (args: ResourceValidationArgs): boolean => stackOf(args.urn) === "production";

export const policies: ResourceValidationPolicy[] = [
    {
        name: "no-inbound-tcp",
        description: "No Hetzner firewall rule opens inbound TCP: HTTP arrives through the Cloudflare tunnel, SSH through Tailscale.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(hcloud.Firewall, (firewall, _args, report) => {
            for (const rule of firewall.rules ?? []) {
                if (rule.direction === "in" && rule.protocol === "tcp") report(`inbound TCP port ${rule.port ?? "any"} is open to ${(rule.sourceIps ?? []).join(", ")}`);
            }
        }),
    },
    {
        name: "server-has-firewall",
        description: "Every server is created with a firewall (firewallIds): an attachment added later leaves the first boot unprotected.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(hcloud.Server, (server, _args, report) => {
            if (!server.firewallIds || server.firewallIds.length === 0) report("the server has no firewallIds: it would boot with every port open");
        }),
    },
    {
        name: "arm64-servers-only",
        description: "Servers are Hetzner's ARM64 cax types: the image is built for arm64.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(hcloud.Server, (server, _args, report) => {
            if (!/^cax\d+$/.test(String(server.serverType))) report(`server type ${server.serverType} is not an ARM64 (cax) type`);
        }),
    },
    {
        name: "production-data-protected",
        description: "On production, servers, volumes and buckets are protected: Pulumi protect, and Hetzner's delete protection where it exists.",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(hcloud.Server, (server, args, report) => {
                if (!isProduction(args)) return;
                if (!args.opts.protect) report("a production server is not protected (Pulumi protect)");
                if (!server.deleteProtection || !server.rebuildProtection) report("a production server lacks Hetzner's delete/rebuild protection");
            }),
            validateResourceOfType(hcloud.Volume, (volume, args, report) => {
                if (!isProduction(args)) return;
                if (!args.opts.protect) report("the production volume is not protected (Pulumi protect)");
                if (!volume.deleteProtection) report("the production volume lacks Hetzner's delete protection");
            }),
            validateResourceOfType(cloudflare.R2Bucket, (_bucket, args, report) => {
                if (isProduction(args) && !args.opts.protect) report("a production bucket is not protected (Pulumi protect)");
            }),
        ],
    },
    {
        name: "tailnet-keys-single-use",
        description: "Tailscale auth keys are pre-authorized and single-use: a leaked key joins nothing twice.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(tailscale.TailnetKey, (key, _args, report) => {
            if (key.preauthorized !== true) report("the auth key is not pre-authorized: the host would wait for approval and never come up");
            if (key.reusable === true) report("the auth key is reusable: anyone holding it could join more machines");
        }),
    },
    {
        name: "no-database-url",
        description: "No DATABASE_URL in the deploy step or its Kamal set: it would override the primary database of every environment.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(command.local.Command, (cmd, _args, report) => {
            for (const [name, value] of Object.entries(cmd.environment ?? {})) {
                if (name === "DATABASE_URL" || String(value).includes("DATABASE_URL")) report(`${name} sets or renders DATABASE_URL`);
            }
        }),
    },
    {
        name: "command-secrets-sealed",
        description:
            "A Command's environment value whose name looks like a credential is a Pulumi secret. Validation cannot see secretness " +
            "(the policy SDK unwraps secrets first), so this runs as a remediation, which does: it seals such a value as a secret.",
        enforcementLevel: "remediate",
        remediateResource: (args) => {
            if (args.type !== "command:local:Command" && args.type !== "command:remote:Command") return undefined;
            const environment: unknown = args.props.environment;
            // A whole environment that is a secret (Pulumi seals the map when any value is one) is fine.
            if (!environment || environment instanceof Secret || typeof environment !== "object") return undefined;
            const plain = Object.entries(environment as Record<string, unknown>).filter(([name, value]) => SECRET_LOOKING.test(name) && !(value instanceof Secret));
            if (plain.length === 0) return undefined;
            const sealed = { ...(environment as Record<string, unknown>) };
            for (const [name, value] of plain) sealed[name] = new Secret(value);
            return { ...args.props, environment: sealed };
        },
    },
];
