// Two Commands around the server's in-place updates that power it off (a type change, a public IPv4
// change; lib/host-power.ts cites the provider): the first, which the server waits for, shuts it
// down cleanly; the second, which waits for the server, powers it on again. Each runs when the
// settings behind those changes change, and on a stack's first `up` (then the first finds no server
// and the second finds it running).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config/settings";
import { HOST_POWER_ENV } from "../lib/host-power";

/** Stored in state; run from the project directory (Command's default cwd). */
export const HOST_POWER_COMMAND = "node launch.js components/scripts/host-power";

export interface HostPowerArgs {
    readonly settings: Pick<Settings, "hetzner">;
    readonly serverName: string;
    /** The stack's Hetzner token (secret). */
    readonly hcloudToken: pulumi.Input<string>;
}

/** The settings whose change powers the server off: a new value replaces both steps, so they run. */
export const powerTriggers = (settings: Pick<Settings, "hetzner">): string[] => [settings.hetzner.serverType, String(settings.hetzner.publicIpv4)];

/** `stop` runs before the server's update (the server depends on it), `start` after it (the deploy waits for it). */
export function hostPowerStep(name: string, step: "stop" | "start", args: HostPowerArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        name,
        {
            create: `${HOST_POWER_COMMAND} ${step}`,
            environment: {
                [HOST_POWER_ENV.token]: pulumi.secret(args.hcloudToken),
                [HOST_POWER_ENV.server]: args.serverName,
                [HOST_POWER_ENV.serverType]: args.settings.hetzner.serverType,
                [HOST_POWER_ENV.publicIpv4]: String(args.settings.hetzner.publicIpv4),
            },
            triggers: powerTriggers(args.settings),
            logging: command.local.Logging.StdoutAndStderr,
            addPreviousOutputInEnv: false,
        },
        { ...opts, additionalSecretOutputs: ["stdout", "stderr"] },
    );
}
