// The policies that need the whole stack: which resource a property came from
// (`propertyDependencies`), and the secret values other resources hold. @pulumi/policy hands a stack
// policy every resource's properties, its dependencies and, per property, the resources that
// property was computed from (policy.d.ts PolicyResource; server.js fills them from the engine).
// During a preview some values are unknown and reading one throws: `known()` skips those instead,
// so the policy still checks everything that is known.
import * as hcloud from "@pulumi/hcloud";
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import * as tailscale from "@pulumi/tailscale";

/** An env var name that holds a credential. */
export const SECRET_LOOKING = /(TOKEN|SECRET|PASSWORD|PASSPHRASE|MASTER_KEY|ACCESS_KEY|API_KEY|PRIVATE_KEY)/i;

const UNKNOWN = Symbol("unknown during preview");

/** A property's value, or UNKNOWN when the preview cannot know it yet (the policy SDK's proxy throws). */
function known<T>(read: () => T): T | typeof UNKNOWN {
    try {
        return read();
    } catch {
        return UNKNOWN;
    }
}

/** Every known string (numbers as text) inside a value, at any depth. */
function strings(read: () => unknown): string[] {
    const found: string[] = [];
    const walk = (get: () => unknown): void => {
        const value = known(get);
        if (value === UNKNOWN || value === null || value === undefined) return;
        if (typeof value === "string") found.push(value);
        else if (typeof value === "number") found.push(String(value));
        else if (typeof value === "object") for (const key of Object.keys(value)) walk(() => (value as Record<string, unknown>)[key]);
    };
    walk(read);
    return found;
}

const describe = (r: PolicyResource): string => `${r.type.split(":").pop()} ${r.name}`;

export const serverBehindStackFirewall: StackValidationPolicy = {
    name: "server-behind-stack-firewall",
    description:
        "Every server is created with firewallIds, each the id of a Firewall resource of this stack, whose rules this pack checks: " +
        "not a literal id or another stack's firewall, and not an attachment added later that leaves the first boot open.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
        for (const server of args.resources.filter((r) => r.isType(hcloud.Server))) {
            const ids = known(() => server.props.firewallIds as unknown[] | undefined);
            const count = ids === UNKNOWN ? 1 : (ids?.length ?? 0);
            if (count === 0) {
                report(`${describe(server)} has no firewallIds: it would boot with every port open`, server.urn);
                continue;
            }
            const sources = server.propertyDependencies.firewallIds ?? [];
            for (const other of sources.filter((d) => !d.isType(hcloud.Firewall))) report(`${describe(server)} takes a firewall id from ${describe(other)}, not from a Firewall of this stack`, server.urn);
            const firewalls = sources.filter((d) => d.isType(hcloud.Firewall)).length;
            if (firewalls < count) report(`${describe(server)} has ${count} firewallIds but only ${firewalls} from this stack's Firewall resources: a firewall outside the stack is not checked here`, server.urn);
        }
    },
};

/**
 * Credential formats worth recognizing wherever they appear: Tailscale keys ("tskey-", Tailscale's
 * key docs), PEM private keys, AWS access key ids, GitHub tokens (github.blog, "Behind GitHub's new
 * authentication token formats").
 */
const CREDENTIAL_FORMATS: readonly [string, RegExp][] = [
    ["Tailscale key", /\btskey-[a-z]+-[A-Za-z0-9]{6,}/],
    ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
    ["AWS access key id", /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
    ["GitHub token", /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b/],
];

/** Shorter values are too common to be told apart from ordinary text (a port, a flag). */
const MIN_SECRET_LENGTH = 8;

/** The stack's credential values a policy can see: Commands' secret-named env values, minted keys and tokens. */
function stackSecrets(resources: readonly PolicyResource[]): Map<string, string> {
    const secrets = new Map<string, string>();
    const add = (value: unknown, source: string): void => {
        if (typeof value === "string" && value.length >= MIN_SECRET_LENGTH) secrets.set(value, source);
    };
    for (const r of resources) {
        if (r.type === "command:local:Command" || r.type === "command:remote:Command") {
            const env = known(() => r.props.environment as Record<string, unknown> | undefined);
            if (env === UNKNOWN || !env) continue;
            for (const name of Object.keys(env).filter((n) => SECRET_LOOKING.test(n))) {
                const value = known(() => env[name]);
                if (value !== UNKNOWN) add(value, `the value of ${name} of ${describe(r)}`);
            }
        } else if (r.isType(tailscale.TailnetKey)) {
            const key = known(() => r.props.key as unknown);
            if (key !== UNKNOWN) add(key, `the key of ${describe(r)}`);
        }
    }
    return secrets;
}

export const commandLinesHoldNoSecret: StackValidationPolicy = {
    name: "command-lines-hold-no-secret",
    description:
        "No Command carries a credential in create, update, delete or triggers, which are stored in state in the clear, shown in " +
        "previews and (expanded) in the process list: not a value another resource holds as a credential, not a credential's format, " +
        "not a secret-named variable set or expanded on the command line. Scripts read credentials from the environment instead.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
        const secrets = stackSecrets(args.resources);
        for (const cmd of args.resources.filter((r) => r.type === "command:local:Command" || r.type === "command:remote:Command")) {
            for (const field of ["create", "update", "delete", "triggers"]) {
                const seen = new Set<string>();
                const say = (message: string): void => {
                    if (!seen.has(message)) report(`${field} of ${describe(cmd)} ${message}`, cmd.urn);
                    seen.add(message);
                };
                for (const text of strings(() => cmd.props[field])) {
                    for (const [value, source] of secrets) if (text.includes(value)) say(`holds ${source}`);
                    for (const [kind, format] of CREDENTIAL_FORMATS) if (format.test(text)) say(`holds what looks like a ${kind}`);
                    for (const m of text.matchAll(/(?:^|[^A-Za-z0-9_$])([A-Za-z_][A-Za-z0-9_]*)=/g)) if (SECRET_LOOKING.test(m[1])) say(`sets ${m[1]} in the clear`);
                    if (field === "triggers") continue;
                    for (const m of text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) if (SECRET_LOOKING.test(m[1])) say(`expands $${m[1]} onto a command line, where the process list shows it`);
                }
            }
        }
    },
};
