// Tailnet membership of one host: its single-use auth key and the destroy-time removal of its
// device (the provider cannot delete devices: terraform-provider-tailscale#68).
import type * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";
import type { Secrets } from "../config/load";
import type { Settings } from "../config/settings";
import { TAILNET_CLEANUP_ENV } from "../lib/tailnet-devices";
import { deleteStep } from "./delete-step";

/** Stored in state and run by `pulumi destroy` from the project directory (Command's default cwd). */
export const DEVICE_CLEANUP_COMMAND = "node launch.js components/scripts/tailnet-cleanup";

/**
 * The auth key's arguments: pre-authorized, single-use, tagged; ephemeral on review stacks.
 * `bootFingerprint` identifies what the server is created from (components/hosts.ts): a key's
 * arguments are immutable, so a new fingerprint mints a new key together with the server it boots,
 * and a replaced server never boots with its predecessor's used key.
 */
export function tailnetKeyArgs(settings: Pick<Settings, "kind" | "tailscale">, hostname: string, bootFingerprint: string): tailscale.TailnetKeyArgs {
    return {
        preauthorized: true,
        reusable: false,
        ephemeral: settings.kind === "review",
        tags: [...settings.tailscale.tags],
        expiry: settings.tailscale.keyExpirySeconds,
        // A used key reads as invalid; re-minting it on a refresh would change the user-data and so
        // replace a healthy server. A new key comes with a new fingerprint instead.
        recreateIfInvalid: "never",
        // ≤ 50 chars (API limit): host names are at most 37 (lib/naming.ts), plus 9.
        description: `${hostname} ${bootFingerprint}`,
    };
}

/** The clean-up script's environment: the host, the tailnet, and the stack's Tailscale credential. */
export function deviceCleanupEnvironment(
    settings: Pick<Settings, "tailscale">,
    secrets: Pick<Secrets, "tailscaleApiKey" | "tailscaleOauth">,
    hostname: string,
): Record<string, pulumi.Input<string>> {
    const env = TAILNET_CLEANUP_ENV;
    const credential: Record<string, pulumi.Input<string>> = secrets.tailscaleApiKey
        ? { [env.apiKey]: pulumi.secret(secrets.tailscaleApiKey) }
        : {
              [env.oauthClientId]: pulumi.secret(secrets.tailscaleOauth!.clientId),
              [env.oauthClientSecret]: pulumi.secret(secrets.tailscaleOauth!.clientSecret),
          };
    return { [env.hostname]: hostname, [env.tailnet]: settings.tailscale.tailnet, ...credential };
}

export interface TailnetDeviceCleanupArgs {
    /** Tailscale hostname of the host (= server name). */
    readonly hostname: string;
    /** The server: a replaced server replaces this resource, so its delete step runs. */
    readonly serverId: pulumi.Input<string>;
    /** Tailnet settings. */
    readonly settings: Pick<Settings, "tailscale">;
    /** The stack's Tailscale credential (API key or OAuth client). */
    readonly secrets: Pick<Secrets, "tailscaleApiKey" | "tailscaleOauth">;
}

/** Removes the host's tailnet device(s) when the host goes. */
export function tailnetDeviceCleanup(name: string, args: TailnetDeviceCleanupArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return deleteStep(
        name,
        // The script prints device ids and names only.
        { command: DEVICE_CLEANUP_COMMAND, environment: deviceCleanupEnvironment(args.settings, args.secrets, args.hostname), triggers: [args.serverId] },
        // Delete before the replacement exists, so the old device goes before the new host joins.
        { ...opts, deleteBeforeReplace: true },
    );
}
