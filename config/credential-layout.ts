// What one stack's cloud credentials can reach of another's. Cloudflare tunnels are account-wide
// and DNS records zone-wide, so a staging token that manages its own tunnel and DNS can manage
// production's too when the two share an account and zone (README, "What staging's credentials
// can do to production"). Pure: the offline plan prints the warning for production.
import type { RawConfig } from "./raw";
import { rawValue } from "./raw";

/** One line when production names staging's Cloudflare account or zone, else undefined. */
export function sharedCloudflareWarning(production: RawConfig, staging: RawConfig | undefined): string | undefined {
    if (staging === undefined) return undefined;
    const shared = (["cloudflareAccountId", "cloudflareZoneId"] as const).filter((key) => {
        const value = rawValue(production, key);
        return value !== undefined && value === rawValue(staging, key);
    });
    if (shared.length === 0) return undefined;
    const what = shared.map((key) => (key === "cloudflareAccountId" ? "account" : "zone")).join(" and ");
    return (
        `production shares staging's Cloudflare ${what} (${shared.map((k) => `rails-stack:${k}`).join(", ")}): ` +
        "staging's cloudflareApiToken, which pull-request code can read, can then change production's tunnel or DNS; " +
        "give production its own account or zone, or at least its own token (README, \"What staging's credentials can do to production\")"
    );
}
