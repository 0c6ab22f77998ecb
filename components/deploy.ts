// The last step of `pulumi up`: a Command that writes the stack's rendered Kamal set next to this
// machine's other per-stack state and runs deploy/kamal-deploy.sh, which waits for the host and
// runs `kamal setup` from the app's checkout with the stack's RAILS_ENV. See docs/deploy.md.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { S3KeyPair, Secrets } from "../config/load";
import type { Settings } from "../config/settings";
import type { AppVersion } from "../lib/app-checkout";
import { hostName } from "../lib/naming";
import { BOOTSTRAP_REPORT, TUNNEL_TOKEN_IN_HOME } from "../lib/paths";
import { ACTIVE_STORAGE_ENV, ActiveStorageSettings } from "../renderers/active-storage";
import { DeployTarget, KAMAL_SECRET_ENV, kamalInput, KamalSet, kamalSetDigest, renderKamalSet } from "../renderers/kamal";
import { LITESTREAM_ENV } from "../renderers/litestream";

/** Stored in state; Pulumi runs it from the project directory. */
export const DEPLOY_COMMAND = "bash deploy/kamal-deploy.sh";
/** How long a new host may take to join the tailnet, answer over SSH and finish cloud-init (apt upgrade included). */
export const HOST_WAIT_SECONDS = 1200;
/** The tunnel token's variable: a secret of the deploy step itself, not of Kamal. */
export const TUNNEL_TOKEN_ENV = "RAILS_STACK_TUNNEL_TOKEN";
/** The push credential's variable (buildImage true): the step's own secret, for `kamal build push` only. */
export const REGISTRY_PUSH_PASSWORD_ENV = "RAILS_STACK_REGISTRY_PUSH_PASSWORD";

/** The host as the deploy step reaches it: its name (verified through Tailscale), Tailscale SSH on port 22. */
export const deployTarget = (settings: Pick<Settings, "app" | "stack">): DeployTarget => ({ host: hostName(settings), sshPort: 22 });

/** The version the deploy step gets, or "" with the reason in RAILS_STACK_VERSION_PROBLEM. */
const versionEnv = (version: AppVersion): Record<string, string> =>
    "version" in version ? { RAILS_STACK_VERSION: version.version } : { RAILS_STACK_VERSION: "", RAILS_STACK_VERSION_PROBLEM: version.problem };

/**
 * The deploy script's environment without secret values (the contract at the top of
 * deploy/kamal-deploy.sh). Nothing in it depends on the machine running `pulumi up`, so a deploy
 * runs again only when something it deploys changes.
 */
export function deployEnvironment(
    settings: Pick<Settings, "app" | "stack" | "railsEnv" | "deploy" | "tailscale">,
    set: KamalSet,
    version: AppVersion,
    target: DeployTarget,
): Record<string, string> {
    const files = Object.keys(set.files);
    return {
        RAILS_STACK_STACK: settings.stack,
        RAILS_STACK_SERVICE: settings.app,
        RAILS_STACK_RAILS_ENV: settings.railsEnv,
        RAILS_STACK_APP_DIR: settings.deploy.appDir,
        ...versionEnv(version),
        RAILS_STACK_BUILD: String(settings.deploy.buildImage),
        RAILS_STACK_IMAGE_DIGEST: settings.deploy.appImageDigest ?? "",
        RAILS_STACK_HOST: target.host,
        RAILS_STACK_HOST_TAGS: settings.tailscale.tags.join(","),
        RAILS_STACK_WAIT_SECONDS: String(HOST_WAIT_SECONDS),
        RAILS_STACK_BOOTSTRAP_REPORT: BOOTSTRAP_REPORT,
        RAILS_STACK_TUNNEL_TOKEN_FILE: TUNNEL_TOKEN_IN_HOME,
        RAILS_STACK_FILES: files.join(" "),
        ...Object.fromEntries(files.map((file, i) => [`RAILS_STACK_FILE_${i}`, set.files[file]])),
        RAILS_STACK_SECRET_NAMES: set.secretNames.join(" "),
        RAILS_STACK_ACCESSORIES: set.accessories.map((a) => [a.name, `${settings.app}-${a.name}`, a.digest, ...a.secretNames].join(" ")).join("\n"),
    };
}

export interface DeployArgs {
    readonly settings: Settings;
    readonly secrets: Pick<Secrets, "registryPassword" | "registryPushPassword" | "railsMasterKey">;
    /** What to deploy (config/load.ts). */
    readonly appVersion: pulumi.Input<AppVersion>;
    /** The tunnel's connector token (secret): the deploy step hands it to cloudflared on the host. */
    readonly tunnelToken: pulumi.Input<string>;
    /** The server's id: a replaced server is a new host, deployed to again. */
    readonly serverId: pulumi.Input<string>;
    /** R2 key pairs (secret): Active Storage's reaches the attachments bucket alone, Litestream's the backups bucket alone. */
    readonly r2: Readonly<Record<"attachments" | "backups", S3KeyPair>>;
    readonly activeStorage: pulumi.Input<ActiveStorageSettings>;
    /** The rendered litestream.yml. */
    readonly litestreamConfig: pulumi.Input<string>;
    /** What must exist before Kamal runs, and nothing else (docs/deploy.md, "Ordering"). */
    readonly dependsOn: readonly pulumi.Resource[];
}

export class Deploy extends pulumi.ComponentResource {
    /** The deployed image tag, or why none could be resolved. */
    readonly version: pulumi.Output<string>;
    /** `-d <destination>` for Kamal commands run by hand. */
    readonly kamalDestination: pulumi.Output<string>;
    /** The rendered Kamal set by relative path: the files the deploy step writes. */
    readonly files: pulumi.Output<Readonly<Record<string, string>>>;

    constructor(name: string, args: DeployArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:deploy:Deploy", name, {}, opts);
        const { settings } = args;
        const target = deployTarget(settings);
        const set = pulumi
            .all([args.activeStorage, args.litestreamConfig])
            .apply(([activeStorage, litestream]) => renderKamalSet(kamalInput(settings, { target, activeStorage, litestream })));
        const secretValues: Record<string, pulumi.Input<string>> = {
            [KAMAL_SECRET_ENV.registryPassword]: args.secrets.registryPassword,
            [KAMAL_SECRET_ENV.railsMasterKey]: args.secrets.railsMasterKey,
            [ACTIVE_STORAGE_ENV.accessKeyId]: args.r2.attachments.accessKeyId,
            [ACTIVE_STORAGE_ENV.secretAccessKey]: args.r2.attachments.secretAccessKey,
            [LITESTREAM_ENV.accessKeyId]: args.r2.backups.accessKeyId,
            [LITESTREAM_ENV.secretAccessKey]: args.r2.backups.secretAccessKey,
        };
        const appVersion = pulumi.output(args.appVersion);
        const environment = pulumi.all([set, appVersion]).apply(([s, version]) => ({
            ...deployEnvironment(settings, s, version, target),
            ...Object.fromEntries(s.secretNames.map((secret) => [secret, pulumi.secret(secretValues[secret])])),
            [TUNNEL_TOKEN_ENV]: pulumi.secret(args.tunnelToken),
            ...(args.secrets.registryPushPassword ? { [REGISTRY_PUSH_PASSWORD_ENV]: pulumi.secret(args.secrets.registryPushPassword) } : {}),
        }));
        const versionText = appVersion.apply((version) => ("version" in version ? version.version : `unresolved: ${version.problem}`));
        new command.local.Command(
            `${name}-kamal`,
            {
                create: DEPLOY_COMMAND,
                environment,
                // A new rendered set, version or host replaces this resource, and its create runs again;
                // `kamal setup` serves first and later deploys alike. No delete step: a replacement or
                // a destroy never touches the running app.
                triggers: [set.apply(kamalSetDigest), versionText, args.serverId],
                logging: command.local.Logging.StdoutAndStderr,
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [...args.dependsOn], additionalSecretOutputs: ["stdout", "stderr"] },
        );

        this.version = versionText;
        this.kamalDestination = pulumi.output(settings.stack);
        this.files = set.apply((s) => s.files);
        this.registerOutputs({ version: this.version, kamalDestination: this.kamalDestination });
    }
}
