// The rules every stack of this project must keep, as Pulumi policies: run with
// `pulumi preview --policy-pack policy` (pack.ts), unit-tested in test/policy.spec.ts, and checked
// against the committed golden plans. Each guards a property the program already has, so a change
// that breaks one fails in review instead of in the cloud. Whole-stack rules: stack-policies.ts.
import * as cloudflare from "@pulumi/cloudflare";
import * as command from "@pulumi/command";
import * as hcloud from "@pulumi/hcloud";
import { ResourceValidationArgs, ResourceValidationPolicy, Secret, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as tailscale from "@pulumi/tailscale";
import { TAILSCALE_UDP_PORT } from "../components/hosts";
import { TAILNET_KEY_EXPIRY_SECONDS } from "../config/parse";
import { commandLinesHoldNoSecret, serverBehindStackFirewall, SECRET_LOOKING } from "./stack-policies";

export { SECRET_LOOKING };

/** The stack a resource belongs to: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export const stackOf = (urn: string): string => urn.split(":")[2]?.split("::")[0] ?? "";

/**
 * The longest a host's auth key may stay valid. A key is minted with the server it boots
 * (components/tailnet.ts: a new boot fingerprint, a new key), used once by cloud-init within
 * minutes of its creation, and never again; the default is an hour (config/keys.ts
 * tailscaleKeyExpiry). A day leaves room for a slow first boot; anything longer only lengthens the
 * time a leaked user-data joins a machine to the tailnet.
 */
export const MAX_TAILNET_KEY_EXPIRY_SECONDS = TAILNET_KEY_EXPIRY_SECONDS.max;

/** Hetzner firewall protocols that carry no port: tunnels (GRE, ESP) and ICMP. */
const TUNNEL_PROTOCOLS = new Set(["gre", "esp"]);

const isProduction = (args: ResourceValidationArgs): boolean => stackOf(args.urn) === "production";

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
    {
        name: "inbound-tailscale-udp-only",
        description:
            `The only inbound Hetzner firewall rule is UDP ${TAILSCALE_UDP_PORT} (Tailscale direct connections): HTTP arrives through the ` +
            "Cloudflare tunnel and SSH through Tailscale, both outbound. No GRE or ESP rule in either direction: a tunnel around both.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(hcloud.Firewall, (firewall, _args, report) => {
            for (const rule of firewall.rules ?? []) {
                const what = `${rule.direction === "in" ? "inbound" : "outbound"} ${rule.protocol}${rule.port ? ` port ${rule.port}` : ""}`;
                const peers = (rule.direction === "in" ? rule.sourceIps : rule.destinationIps) ?? [];
                if (TUNNEL_PROTOCOLS.has(rule.protocol)) report(`${what} ${rule.direction === "in" ? "from" : "to"} ${peers.join(", ")}: ${rule.protocol.toUpperCase()} tunnels around the Cloudflare tunnel and Tailscale`);
                else if (rule.direction === "in" && !(rule.protocol === "udp" && rule.port === TAILSCALE_UDP_PORT)) report(`${what} is open to ${peers.join(", ")}: only UDP ${TAILSCALE_UDP_PORT} (Tailscale) may come in`);
            }
        }),
    },
    serverBehindStackFirewall,
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
        description:
            "On production, servers, volumes and buckets are protected (Pulumi protect, Hetzner's delete protection where it exists), " +
            "and no bucket lifecycle rule deletes objects: backups go only by Litestream's retention, uploads only by the app.",
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
            validateResourceOfType(cloudflare.R2BucketLifecycle, (lifecycle, args, report) => {
                if (!isProduction(args)) return;
                // Aborting incomplete multipart uploads and storage-class moves keep every object.
                for (const rule of lifecycle.rules ?? []) {
                    if (rule.enabled === false || !rule.deleteObjectsTransition) continue;
                    const when = rule.deleteObjectsTransition.condition;
                    const after = when?.type === "Date" ? `on ${when.date}` : `${when?.maxAge ?? "?"} s after upload`;
                    report(`lifecycle rule ${rule.id} deletes objects under "${rule.conditions?.prefix ?? ""}" of ${lifecycle.bucketName} ${after}`);
                }
            }),
        ],
    },
    {
        name: "tailnet-keys-least-privilege",
        description:
            `Tailscale auth keys are tagged, pre-authorized, single-use and expire within ${MAX_TAILNET_KEY_EXPIRY_SECONDS} s: ` +
            "a leaked key joins at most one machine, soon, as a tagged node that owns nothing of a user's.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(tailscale.TailnetKey, (key, _args, report) => {
            if (key.preauthorized !== true) report("the auth key is not pre-authorized: the host would wait for approval and never come up");
            if (key.reusable === true) report("the auth key is reusable: anyone holding it could join more machines");
            const tags = key.tags ?? [];
            if (tags.length === 0) report("the auth key has no tags: the host would join as the key's owner, with that user's access");
            for (const tag of tags.filter((t) => !/^tag:[a-z0-9-]+$/i.test(t))) report(`"${tag}" is not a tag (tag:<name>)`);
            if (key.expiry === undefined) report("the auth key has no expiry: Tailscale's default is 90 days");
            else if (!(key.expiry > 0 && key.expiry <= MAX_TAILNET_KEY_EXPIRY_SECONDS)) report(`the auth key expires after ${key.expiry} s; at most ${MAX_TAILNET_KEY_EXPIRY_SECONDS} s (a day)`);
        }),
    },
    {
        name: "no-api-tokens",
        description:
            "No stack creates a Cloudflare API token: a token that may create tokens can create ones for any of the account's resources. " +
            "R2 key pairs are minted outside pulumi up (npm run r2-credentials) and come from the stack config.",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(cloudflare.AccountToken, (_token, _args, report) => report("an account API token is created by pulumi up; mint R2 key pairs with npm run r2-credentials instead")),
            validateResourceOfType(cloudflare.ApiToken, (_token, _args, report) => report("a user API token is created by pulumi up; mint R2 key pairs with npm run r2-credentials instead")),
        ],
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
    commandLinesHoldNoSecret,
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
