// The price table: one entry per billed item the stack consumes, each with its source and the date
// it was last verified. test/cost-table.spec.ts fails, naming the entry's line, once a verification
// is older than STALE_AFTER_DAYS. With the stack's Hetzner token the plan prices Hetzner items from
// Hetzner's own API instead (lib/hcloud-api.ts) and says where this table differs.
//
// How it was verified (2026-12-01): this build machine reaches no web page, so every figure was
// read from stored copies of public sources; `evidence` says which, and how old that copy is.
// Prices exclude VAT.

export const STALE_AFTER_DAYS = 180;

/** Hetzner's ARM64 (Ampere) server types and the locations that sell them (config/parse.ts). */
export type ServerTypeName = "cax11" | "cax21" | "cax31" | "cax41";
export type LocationName = "fsn1" | "nbg1" | "hel1";

interface Verified {
    /** Stable id: what tests and the plan name the entry by. */
    readonly id: string;
    readonly source: string;
    /** YYYY-MM-DD: when the figure was last checked against `source`. */
    readonly verified: string;
    /** What was read, and how old that copy was; "derived" says by which rule. */
    readonly evidence: string;
}

/**
 * A server type's price. Hetzner's 15 June 2026 adjustment applies to new orders and rescales
 * only: a server ordered before it keeps the 1 April 2026 price until it is rescaled or replaced.
 */
export interface ServerPrice extends Verified {
    readonly item: "server";
    readonly serverType: ServerTypeName;
    readonly order: "new" | "existing";
    readonly locations: readonly LocationName[];
    readonly eurPerMonth: number;
    readonly eurPerHour: number;
}

export interface FlatPrice extends Verified {
    readonly item: "primaryIpv4" | "volumePerGb";
    readonly eurPerMonth: number;
    readonly eurPerHour?: number;
}

export interface R2Prices extends Verified {
    readonly item: "r2";
    readonly usdPerGbMonth: number;
    readonly usdPerMillionClassA: number;
    readonly usdPerMillionClassB: number;
    /** Per Cloudflare account and month, shared by every stack of the account. */
    readonly freeTier: { readonly gbMonth: number; readonly classA: number; readonly classB: number };
}

export interface ExchangeRate extends Verified {
    readonly item: "usdPerEur";
    readonly usdPerEur: number;
}

/** Not billed per stack: the Tailscale plan limits a stack consumes. */
export interface TailscaleLimits extends Verified {
    readonly item: "tailscale";
    /** Personal plan: tagged devices "to start". */
    readonly taggedResources: number;
    /** Personal and Standard plans; Premium has 10,000. */
    readonly ephemeralMinutesPerMonth: number;
}

export type PriceEntry = ServerPrice | FlatPrice | R2Prices | ExchangeRate | TailscaleLimits;

const ARM: readonly LocationName[] = ["fsn1", "nbg1", "hel1"];
const SOURCE_NEW = "https://www.hetzner.com/cloud/cost-optimized/";
const SOURCE_ADJUSTMENT = "https://docs.hetzner.com/general/infrastructure-and-availability/price-adjustment/";
const NEW_EVIDENCE =
    "hetzner.com read 2026-09-03 (robhunter/agentdeals#1286: CAX11 6.49, CAX21 10.99, CAX31 21.49, CAX41 41.49 incl. the primary IPv4) minus EUR 0.50; " +
    "the 2026-09-04 adjustment table (agentdeals#1324) gives CAX41 40.99 without it. Per hour derived: monthly / 624 (every published 2026 pair)";
const EXISTING_EVIDENCE =
    "1 April 2026 prices: Hetzner's announcement as recorded by mixxor/eu-cloud-prices#13 (gross / 1.19), CAX41 31.49 also the 'before' column of the 2026-09-04 adjustment table (agentdeals#1324)";

export const PRICE_TABLE: readonly PriceEntry[] = [
    { id: "hetzner-cax11-new", item: "server", serverType: "cax11", order: "new", locations: ARM, eurPerMonth: 5.99, eurPerHour: 0.0096, source: SOURCE_NEW, verified: "2026-12-01", evidence: NEW_EVIDENCE },
    { id: "hetzner-cax21-new", item: "server", serverType: "cax21", order: "new", locations: ARM, eurPerMonth: 10.49, eurPerHour: 0.0168, source: SOURCE_NEW, verified: "2026-12-01", evidence: NEW_EVIDENCE },
    { id: "hetzner-cax31-new", item: "server", serverType: "cax31", order: "new", locations: ARM, eurPerMonth: 20.99, eurPerHour: 0.0336, source: SOURCE_NEW, verified: "2026-12-01", evidence: NEW_EVIDENCE },
    { id: "hetzner-cax41-new", item: "server", serverType: "cax41", order: "new", locations: ARM, eurPerMonth: 40.99, eurPerHour: 0.0657, source: SOURCE_NEW, verified: "2026-12-01", evidence: NEW_EVIDENCE },
    { id: "hetzner-cax11-existing", item: "server", serverType: "cax11", order: "existing", locations: ARM, eurPerMonth: 4.49, eurPerHour: 0.0072, source: SOURCE_ADJUSTMENT, verified: "2026-12-01", evidence: EXISTING_EVIDENCE },
    { id: "hetzner-cax21-existing", item: "server", serverType: "cax21", order: "existing", locations: ARM, eurPerMonth: 7.99, eurPerHour: 0.0128, source: SOURCE_ADJUSTMENT, verified: "2026-12-01", evidence: EXISTING_EVIDENCE },
    { id: "hetzner-cax31-existing", item: "server", serverType: "cax31", order: "existing", locations: ARM, eurPerMonth: 15.99, eurPerHour: 0.0256, source: SOURCE_ADJUSTMENT, verified: "2026-12-01", evidence: EXISTING_EVIDENCE },
    { id: "hetzner-cax41-existing", item: "server", serverType: "cax41", order: "existing", locations: ARM, eurPerMonth: 31.49, eurPerHour: 0.0505, source: SOURCE_ADJUSTMENT, verified: "2026-12-01", evidence: EXISTING_EVIDENCE },
    {
        id: "hetzner-primary-ipv4",
        item: "primaryIpv4",
        eurPerMonth: 0.5,
        eurPerHour: 0.0008,
        source: "https://docs.hetzner.com/cloud/servers/primary-ips/overview/",
        verified: "2026-12-01",
        evidence:
            "docs page (stored copy, last changed 2022-08-10): EUR 0.0008/h, 0.50/mo; the 2026-05-28 announcement excludes IPs from the June change; hetzner.com's 2026-09-03 server prices are the table's plus 0.50",
    },
    {
        id: "hetzner-volume-per-gb",
        item: "volumePerGb",
        eurPerMonth: 0.0572,
        source: SOURCE_ADJUSTMENT,
        verified: "2026-12-01",
        evidence:
            "Hetzner API /v1/pricing read 2026-05-27 (devantler-tech/platform commit cb791c6, PR #1637: 'post 2026-04-01'); the 2026-05-28 announcement excludes volumes from the June change. No hourly price found: the cost applies monthly / 624",
    },
    {
        id: "cloudflare-r2",
        item: "r2",
        usdPerGbMonth: 0.015,
        usdPerMillionClassA: 4.5,
        usdPerMillionClassB: 0.36,
        freeTier: { gbMonth: 10, classA: 1_000_000, classB: 10_000_000 },
        source: "https://developers.cloudflare.com/r2/pricing/",
        verified: "2026-12-01",
        evidence:
            "cloudflare/cloudflare-docs src/content/docs/r2/pricing.mdx (stored copy, commit 07ec87d): Standard storage; ListObjects and PutObject are Class A, DeleteObject is free; usage rounds up to the next unit per account",
    },
    {
        id: "usd-per-eur",
        item: "usdPerEur",
        usdPerEur: 1.1637,
        source: "https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/html/eurofxref-graph-usd.en.html",
        verified: "2026-12-01",
        evidence: "ECB reference rate of 2026-05-27 as quoted by devantler-tech/platform commit cb791c6; no later rate in the stored sources",
    },
    {
        id: "tailscale-plan-limits",
        item: "tailscale",
        taggedResources: 50,
        ephemeralMinutesPerMonth: 1000,
        source: "https://tailscale.com/pricing",
        verified: "2026-12-01",
        evidence: "tailscale.com/pricing as transcribed 2026-09-20 (api-evangelist/tailscale plans/tailscale-plans-pricing.yml): Personal 'Up to 50 tagged resources to start', '1,000 mins per month for ephemeral resources'",
    },
];
