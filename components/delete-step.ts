// A Command with only a delete step: the clean-ups `pulumi destroy` runs (tailnet device, tunnel
// connections, bucket emptiers). Its environment carries a credential, so its output stays secret
// too; it never needs its previous output.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export interface DeleteStepArgs {
    /** The command line, stored in state at create time: `node launch.js components/scripts/<name>`. */
    readonly command: string;
    readonly environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Values whose change replaces the step, so the old one's delete runs. */
    readonly triggers?: pulumi.Input<unknown>[];
    readonly logging?: command.local.Logging;
}

export function deleteStep(name: string, args: DeleteStepArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(
        name,
        {
            delete: args.command,
            environment: args.environment,
            ...(args.triggers ? { triggers: args.triggers } : {}),
            logging: args.logging ?? command.local.Logging.StdoutAndStderr,
            addPreviousOutputInEnv: false,
        },
        { ...opts, additionalSecretOutputs: ["stdout", "stderr"] },
    );
}
