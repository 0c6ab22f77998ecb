// The capacity check on demand (components/capacity.ts) as `npm run capacity` and the doctor run
// it: through Hetzner's API with the stack's token, one line for the outcome.
import type { CapacityVerdict } from "../components/capacity";
import type { Settings } from "../config/settings";
import type { StackConfigSource } from "./stack-config";

/** Where the token comes from, for the line that asks for it. */
export const TOKEN_SOURCES = (stack: string): string => `--set hcloudToken="$(pulumi config get hcloudToken --stack ${stack})", or HCLOUD_TOKEN`;

/**
 * The stack's Hetzner token for this run: one given with --set hcloudToken=..., else HCLOUD_TOKEN
 * (as the hcloud CLI reads it). The stack file holds its own encrypted, which only pulumi decrypts.
 */
export function givenToken(source: StackConfigSource, env: NodeJS.ProcessEnv = process.env): string | undefined {
    return source.placeholders.includes("hcloudToken") ? env.HCLOUD_TOKEN || undefined : source.values.hcloudToken;
}

export interface CapacityOutcome {
    /** False when the run may not order what it wants, or Hetzner's API could not be asked. */
    readonly ok: boolean;
    /** Where the type can be ordered, a kept server's warning, or the failure naming the key to change. */
    readonly line: string;
}

/** The line for a verdict. */
export function capacityLine(verdict: CapacityVerdict, hetzner: Settings["hetzner"]): CapacityOutcome {
    if (!verdict.ok) return { ok: false, line: verdict.message };
    if (verdict.warning) return { ok: true, line: `warning: rails-stack:webServerType: ${verdict.warning}` };
    const order = verdict.order === "none" ? "the existing server is kept" : `this run would order: ${verdict.order}`;
    return { ok: true, line: `capacity: ${hetzner.serverType} can be ordered in ${hetzner.location} now (${order})` };
}

/** Asks Hetzner's API; a refused token or an API that does not answer fails, in one line without the token. */
export async function askCapacity(settings: Settings, token: string): Promise<CapacityOutcome> {
    try {
        // Loaded here: it brings the Pulumi and hcloud SDKs, which only this check needs.
        const { checkCapacity } = await import("../components/capacity");
        return capacityLine(await checkCapacity(settings, token), settings.hetzner);
    } catch (err) {
        return { ok: false, line: `capacity check failed: ${(err as Error).message}` };
    }
}
