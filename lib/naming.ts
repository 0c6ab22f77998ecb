// Every physical name, derived from app + stack so that production, staging and any number of
// pr-<n> stacks never collide. Lengths: app ≤ 20 and stack ≤ 10 ("production", "pr-999999"), so
// the server name "<app>-<stack>-web-1" is at most 37 chars: inside Hetzner's and Tailscale's
// 63-char hostname label.
import type { R2Jurisdiction, Settings } from "../config/settings";

type Naming = Pick<Settings, "app" | "stack">;

/** "<app>-<stack>": the prefix of every name of the stack. */
export function stackPrefix(s: Naming): string {
    return `${s.app}-${s.stack}`;
}

/**
 * The stack's single server: also its hostname, Tailscale hostname (MagicDNS name), Kamal host
 * and Pulumi resource name. The "-web-1" suffix dates from multi-host stacks; kept because a new
 * resource name would replace existing servers.
 */
export function hostName(s: Naming): string {
    return `${stackPrefix(s)}-web-1`;
}

/** "a.example.com" → "pr-7-a.example.com": review names stay one label deep under the zone. */
export function prefixFirstLabel(prefix: string, hostname: string): string {
    return `${prefix}-${hostname}`;
}

/** Labels put on every Hetzner resource; values obey Hetzner's label-value charset. */
export function hetznerLabels(s: Naming & Pick<Settings, "project">): Record<string, string> {
    return { app: s.app, stack: s.stack, "managed-by": s.project };
}

/** Hetzner firewall of the stack's hosts. */
export function firewallName(s: Naming): string {
    return `${stackPrefix(s)}-firewall`;
}

/** Hetzner volume holding the app's storage (SQLite, Active Storage files). */
export function volumeName(s: Naming): string {
    return `${stackPrefix(s)}-storage`;
}

/** Hetzner SSH key of the stack (a key nobody can log in with: lib/unusable-ssh-key.ts). */
export function sshKeyName(s: Naming): string {
    return `${stackPrefix(s)}-no-login`;
}

/** R2's S3 endpoint; jurisdictional buckets answer only on their own host. */
export function r2Endpoint(accountId: string, jurisdiction: R2Jurisdiction): string {
    return jurisdiction === "default" ? `https://${accountId}.r2.cloudflarestorage.com` : `https://${accountId}.${jurisdiction}.r2.cloudflarestorage.com`;
}
