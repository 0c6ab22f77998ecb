// The only module that reads Pulumi config. It reads it once, validates it (config/parse.ts) and
// returns the frozen settings plus the secret values as secret Outputs.
import * as pulumi from "@pulumi/pulumi";
import { AppVersion, CommitReader, readCheckoutCommit, resolveAppVersion } from "../lib/app-checkout";
import { PROJECT } from "./keys";
import { parseConfig } from "./parse";
import { credentialKeysOf } from "./parse-storage";
import { ForeignValue, RawConfig } from "./raw";
import { Settings } from "./settings";

export interface Secrets {
    readonly hcloudToken: pulumi.Output<string>;
    readonly cloudflareApiToken: pulumi.Output<string>;
    /** The hosts' (pull) credential. */
    readonly registryPassword: pulumi.Output<string>;
    /** The deployer's push credential: set with buildImage true only. */
    readonly registryPushPassword?: pulumi.Output<string>;
    readonly railsMasterKey: pulumi.Output<string>;
    /** Set when the tailnet is reached with an API key. */
    readonly tailscaleApiKey?: pulumi.Output<string>;
    /** Set when the tailnet is reached with an OAuth client. */
    readonly tailscaleOauth?: { readonly clientId: pulumi.Output<string>; readonly clientSecret: pulumi.Output<string> };
    /** R2 key pairs by purpose, each scoped to its one bucket (minted outside pulumi up: npm run r2-credentials). */
    readonly r2: Readonly<Record<"attachments" | "backups", S3KeyPair>>;
}

export interface S3KeyPair {
    readonly accessKeyId: pulumi.Output<string>;
    readonly secretAccessKey: pulumi.Output<string>;
}

export interface StackConfig {
    readonly settings: Settings;
    readonly secrets: Secrets;
    /** What the deploy step deploys (lib/app-checkout.ts), read while the program runs. */
    readonly appVersion: Promise<AppVersion>;
}

// Which keys the stack stores encrypted is only exposed by this runtime function, marked @internal
// (so absent from the typings); test/config-load.spec.ts fails if an SDK update removes it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret: (fullKey: string) => boolean };

/**
 * Raw config as the runtime holds it (the CLI passes every key of the stack, as
 * `<namespace>:<key>` → string): the project's keys with the namespace stripped and secret names
 * alongside, every other namespace's keys in full, so the parser can refuse unknown namespaces.
 */
export function readRawConfig(): RawConfig {
    const namespace = `${PROJECT}:`;
    const values: Record<string, string> = {};
    const secretKeys = new Set<string>();
    const otherNamespaces: Record<string, ForeignValue> = {};
    for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
        const secret = isConfigSecret(fullKey);
        if (!fullKey.startsWith(namespace)) {
            otherNamespaces[fullKey] = { value, secret };
            continue;
        }
        const key = fullKey.slice(namespace.length);
        values[key] = value;
        if (secret) secretKeys.add(key);
    }
    return { values, secretKeys, otherNamespaces };
}

/** Reads and validates the stack config; `readCommit` finds the app's commit when appVersion is unset. */
export function loadConfig(readCommit: CommitReader = readCheckoutCommit): StackConfig {
    const raw = readRawConfig();
    const result = parseConfig(raw, pulumi.getStack());
    if (!result.ok) {
        // RunError ends the program with just this message: no stack trace, no resource created.
        throw new pulumi.RunError(`invalid stack config:\n  ${result.errors.join("\n  ")}`);
    }
    const secret = (key: string): pulumi.Output<string> => pulumi.secret(raw.values[key]);
    const { auth } = result.settings.tailscale;
    const r2Keys = credentialKeysOf(result.settings.kind);
    const pair = (keys: { accessKeyId: string; secretAccessKey: string }): S3KeyPair => ({ accessKeyId: secret(keys.accessKeyId), secretAccessKey: secret(keys.secretAccessKey) });
    return Object.freeze({
        settings: result.settings,
        appVersion: resolveAppVersion(result.settings.deploy, readCommit),
        secrets: Object.freeze({
            hcloudToken: secret("hcloudToken"),
            cloudflareApiToken: secret("cloudflareApiToken"),
            registryPassword: secret("registryPassword"),
            ...(result.settings.deploy.buildImage ? { registryPushPassword: secret("registryPushPassword") } : {}),
            railsMasterKey: secret("railsMasterKey"),
            r2: { attachments: pair(r2Keys.attachments), backups: pair(r2Keys.backups) },
            ...(auth === "apiKey"
                ? { tailscaleApiKey: secret("tailscaleApiKey") }
                : { tailscaleOauth: { clientId: secret("tailscaleOauthClientId"), clientSecret: secret("tailscaleOauthClientSecret") } }),
        }),
    });
}
