// A complete, valid staging config in the raw form Pulumi hands the program: what the config
// tests start from and change one key at a time.
import { R2_CREDENTIAL_KEYS } from "../config/parse-storage";
import type { RawConfig } from "../config/raw";

/** The secrets a staging config carries (the review pool's R2 pairs too: review stacks copy them). */
export const STAGING_SECRETS: readonly string[] = [
    "hcloudToken",
    "cloudflareApiToken",
    "registryPassword",
    "registryPushPassword",
    "railsMasterKey",
    "tailscaleApiKey",
    ...Object.values(R2_CREDENTIAL_KEYS).flatMap((purposes) => Object.values(purposes).flatMap((pair) => [pair.accessKeyId, pair.secretAccessKey])),
];

/** What a test adds to the raw config besides project values: other namespaces, stand-in values. */
export type RawExtra = Pick<RawConfig, "otherNamespaces" | "placeholders">;

/** Staging's config with `overrides` (undefined removes a key), `secretKeys` the keys Pulumi holds encrypted. */
export function stagingRaw(overrides: Record<string, string | undefined> = {}, secretKeys: readonly string[] = STAGING_SECRETS, extra: RawExtra = {}): RawConfig {
    const values: Record<string, string> = {
        app: "shop",
        domain: "example.com",
        image: "acme/shop",
        registryUsername: "acme",
        cloudflareAccountId: "0123456789abcdef0123456789abcdef",
        cloudflareZoneId: "fedcba9876543210fedcba9876543210",
        appDir: "../shop",
        ...Object.fromEntries(STAGING_SECRETS.map((k) => [k, `value-of-${k}`])),
    };
    for (const [k, v] of Object.entries(overrides)) {
        if (v === undefined) delete values[k];
        else values[k] = v;
    }
    return { ...extra, values, secretKeys: new Set(secretKeys) };
}
