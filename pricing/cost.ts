// The stack's monthly bill, from what the plan orders (plan.json's server and volume inputs), the
// rendered litestream.yml and a price set (the table, or Hetzner's API for Hetzner items). Pure:
// the offline plan and plan-compare (base vs head) compute it the same way.
import { TYPE } from "../plan/resource-types";
import { replicaRequests, replicaSchedules, ReplicaSchedule } from "./litestream-ops";
import { ExchangeRate, FlatPrice, PRICE_TABLE, PriceEntry, R2Prices, TailscaleLimits } from "./table";

/** R2 bills storage per 30-day GB-month; operations are counted over the same month. */
export const MONTH_HOURS = 720;
/** Hetzner bills hourly up to a monthly cap; every hourly/monthly pair it published in 2026 caps at 624 hours. */
export const HOURS_TO_MONTHLY_CAP = 624;
/** A review stack's typical life: a pull request open for three days. */
export const REVIEW_LIFETIME_HOURS = 72;

export interface Rate {
    readonly eurPerMonth: number;
    readonly eurPerHour: number;
}

/** Prices the cost reads; Hetzner's by `<serverType>@<location>` and location. */
export interface PriceSet {
    /** "table" or "hetzner-api" (Hetzner items live, the rest from the table). */
    readonly source: "table" | "hetzner-api";
    readonly newServers: Readonly<Record<string, Rate>>;
    /** Servers ordered before Hetzner's 15 June 2026 adjustment: the table only, no API reports it. */
    readonly existingServers: Readonly<Record<string, Rate>>;
    readonly primaryIpv4: Readonly<Record<string, Rate>>;
    readonly volumePerGb: Rate;
    readonly r2: R2Prices;
    readonly usdPerEur: number;
    readonly tailscale: TailscaleLimits;
}

function entryOf<E extends PriceEntry>(item: E["item"]): E {
    const found = PRICE_TABLE.find((e) => e.item === item);
    if (!found) throw new Error(`pricing/table.ts has no ${item} entry`);
    return found as E;
}

const hourlyOf = (eurPerMonth: number, eurPerHour?: number): Rate => ({ eurPerMonth, eurPerHour: eurPerHour ?? eurPerMonth / HOURS_TO_MONTHLY_CAP });

/** The price set of pricing/table.ts. */
export function tablePrices(): PriceSet {
    const servers = (order: "new" | "existing"): Record<string, Rate> =>
        Object.fromEntries(
            PRICE_TABLE.flatMap((e) => (e.item === "server" && e.order === order ? e.locations.map((l) => [`${e.serverType}@${l}`, hourlyOf(e.eurPerMonth, e.eurPerHour)]) : [])),
        );
    const ipv4 = entryOf<FlatPrice>("primaryIpv4");
    const locations = [...new Set(PRICE_TABLE.flatMap((e) => (e.item === "server" ? e.locations : [])))];
    return {
        source: "table",
        newServers: servers("new"),
        existingServers: servers("existing"),
        primaryIpv4: Object.fromEntries(locations.map((l) => [l, hourlyOf(ipv4.eurPerMonth, ipv4.eurPerHour)])),
        volumePerGb: hourlyOf(entryOf<FlatPrice>("volumePerGb").eurPerMonth),
        r2: entryOf<R2Prices>("r2"),
        usdPerEur: entryOf<ExchangeRate>("usdPerEur").usdPerEur,
        tailscale: entryOf<TailscaleLimits>("tailscale"),
    };
}

export interface PlanPrices {
    readonly prices: PriceSet;
    /** Lines for the plan's summary: which source, and why not the API when it was asked. */
    readonly report: readonly string[];
}

/** The table's prices for a plan without a Hetzner token (with one: pricing/live.ts pricesFor). */
export const tablePlanPrices = (): PlanPrices => ({
    prices: tablePrices(),
    report: ["  prices: pricing/table.ts (no Hetzner token: give one with --set hcloudToken=... for live prices)"],
});

/** What the bill depends on, as the plan shows it. */
export interface StackFacts {
    readonly stack: string;
    readonly review: boolean;
    readonly serverType: string;
    readonly location: string;
    readonly publicIpv4: boolean;
    readonly volumeGb: number;
    readonly litestream: readonly ReplicaSchedule[];
    /** Assumed GB in the stack's R2 buckets (config r2StoredGb). */
    readonly r2StoredGb: number;
}

interface PlanResource {
    readonly type: string;
    readonly inputs: unknown;
}

const only = (entries: readonly PlanResource[], type: string): Record<string, unknown> => {
    const found = entries.filter((e) => e.type === type);
    if (found.length !== 1) throw new Error(`the plan has ${found.length} ${type} resources; the cost model prices exactly one`);
    return found[0].inputs as Record<string, unknown>;
};

/** Reads the facts from plan.json's entries and the rendered storage/litestream.yml. */
export function factsFromPlan(stack: string, entries: readonly PlanResource[], litestreamYaml: string, r2StoredGb: number): StackFacts {
    const server = only(entries, TYPE.server);
    const volume = only(entries, TYPE.volume);
    const publicNets = (server.publicNets ?? []) as { ipv4Enabled?: boolean }[];
    return {
        stack,
        review: /^pr-\d+$/.test(stack),
        serverType: String(server.serverType),
        location: String(server.location),
        // Hetzner assigns a primary IPv4 unless public_net says otherwise.
        publicIpv4: publicNets.length === 0 || publicNets.some((n) => n.ipv4Enabled !== false),
        volumeGb: Number(volume.size),
        litestream: replicaSchedules(litestreamYaml),
        r2StoredGb,
    };
}

export interface CostLine {
    readonly item: "server" | "primaryIpv4" | "volume" | "r2Storage" | "r2Operations";
    readonly label: string;
    /** Upper bound where it depends on use (R2 operations: every database changing all month). */
    readonly eurPerMonth: number;
    /** The same item when every database is idle. */
    readonly idleEurPerMonth: number;
    readonly eurPerHour: number;
}

export interface DatabaseRequests {
    readonly database: string;
    readonly syncInterval: string;
    readonly retention: string;
    readonly snapshotInterval: string | null;
    readonly busyClassA: number;
    readonly idleClassA: number;
}

export interface StackCost {
    readonly stack: string;
    readonly priceSource: PriceSet["source"];
    /** What the figures assume besides the prices. */
    readonly assumptions: { readonly r2StoredGb: number; readonly monthHours: number; readonly reviewLifetimeHours: number };
    readonly lines: readonly CostLine[];
    readonly total: { readonly upperBound: number; readonly idle: number };
    /** The server at its pre-June-2026 price, for a server ordered before then and never rescaled. */
    readonly existingServerEurPerMonth: number | null;
    /** Review stacks: what one typically costs over its life. */
    readonly review: { readonly hours: number; readonly eurPerHour: number; readonly eur: number } | null;
    readonly litestream: readonly DatabaseRequests[];
    readonly notes: readonly string[];
}

const fmt = (eur: number): string => eur.toFixed(2);
/** 4463714 → "4,463,714" without Intl, whose first use costs the plan ~10 ms of start-up. */
const count = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** The monthly bill of one stack. */
export function stackCost(facts: StackFacts, prices: PriceSet): StackCost {
    const key = `${facts.serverType}@${facts.location}`;
    const server = prices.newServers[key];
    if (!server) throw new Error(`no price for server type ${facts.serverType} in ${facts.location} (${prices.source})`);
    const eur = (usd: number): number => usd / prices.usdPerEur;
    const flat = (item: CostLine["item"], label: string, rate: Rate): CostLine => ({
        item,
        label,
        eurPerMonth: rate.eurPerMonth,
        idleEurPerMonth: rate.eurPerMonth,
        eurPerHour: rate.eurPerHour,
    });

    const requests = facts.litestream.map((s) => replicaRequests(s, MONTH_HOURS));
    const busyA = requests.reduce((n, r) => n + r.busy.classA, 0);
    const idleA = requests.reduce((n, r) => n + r.idle.classA, 0);
    const opsEur = (classA: number) => eur((classA / 1e6) * prices.r2.usdPerMillionClassA);
    const storageEur = eur(facts.r2StoredGb * prices.r2.usdPerGbMonth);

    const lines: CostLine[] = [
        flat("server", `server ${facts.serverType} in ${facts.location} (new order)`, server),
        ...(facts.publicIpv4 ? [flat("primaryIpv4", "primary IPv4", prices.primaryIpv4[facts.location] ?? prices.primaryIpv4.fsn1)] : []),
        flat("volume", `volume ${facts.volumeGb} GB`, {
            eurPerMonth: facts.volumeGb * prices.volumePerGb.eurPerMonth,
            eurPerHour: facts.volumeGb * prices.volumePerGb.eurPerHour,
        }),
        flat("r2Storage", `R2 storage at ${facts.r2StoredGb} GB (assumed: r2StoredGb)`, { eurPerMonth: storageEur, eurPerHour: storageEur / MONTH_HOURS }),
        {
            item: "r2Operations",
            label: `R2 operations, Litestream (${facts.litestream.length} database${facts.litestream.length === 1 ? "" : "s"} changing all month)`,
            eurPerMonth: opsEur(busyA),
            idleEurPerMonth: opsEur(idleA),
            eurPerHour: opsEur(busyA) / MONTH_HOURS,
        },
    ];
    const sum = (f: (l: CostLine) => number) => lines.reduce((n, l) => n + f(l), 0);
    const perHour = sum((l) => l.eurPerHour);
    // Hetzner caps each item at its monthly price; a review stack lives well below the cap.
    const reviewEur = lines.reduce((n, l) => n + Math.min(l.eurPerMonth, l.eurPerHour * REVIEW_LIFETIME_HOURS), 0);
    const free = prices.r2.freeTier;
    const notes = [
        `R2's free tier (${free.gbMonth} GB-month, ${free.classA / 1e6}M Class A, ${free.classB / 1e6}M Class B a month) belongs to the Cloudflare account and is shared by all its stacks: not deducted`,
        `Tailscale: one tagged device of the plan's ${prices.tailscale.taggedResources}` +
            (facts.review
                ? `; ephemeral, so about ${REVIEW_LIFETIME_HOURS * 60} minutes over ${REVIEW_LIFETIME_HOURS} h against the plan's ${prices.tailscale.ephemeralMinutesPerMonth} ephemeral minutes a month`
                : ""),
    ];
    const existing = prices.existingServers[key];
    return {
        stack: facts.stack,
        priceSource: prices.source,
        assumptions: { r2StoredGb: facts.r2StoredGb, monthHours: MONTH_HOURS, reviewLifetimeHours: REVIEW_LIFETIME_HOURS },
        lines,
        total: { upperBound: sum((l) => l.eurPerMonth), idle: sum((l) => l.idleEurPerMonth) },
        existingServerEurPerMonth: existing ? existing.eurPerMonth : null,
        review: facts.review ? { hours: REVIEW_LIFETIME_HOURS, eurPerHour: perHour, eur: reviewEur } : null,
        litestream: requests.map((r) => ({
            database: r.schedule.database,
            syncInterval: r.schedule.syncInterval,
            retention: r.schedule.retention,
            snapshotInterval: r.schedule.snapshotInterval,
            busyClassA: r.busy.classA,
            idleClassA: r.idle.classA,
        })),
        notes,
    };
}

/** The plan's summary lines: one per item, the total, review-stack and R2 detail. */
export function costSummary(cost: StackCost): string[] {
    const width = Math.max(...cost.lines.map((l) => l.label.length));
    const row = (label: string, eur: number, extra = "") => `    ${label.padEnd(width)}  ${fmt(eur).padStart(7)}${extra}`;
    const existing = cost.existingServerEurPerMonth === null ? "" : ` (ordered before 2026-06-15 and never rescaled: ${fmt(cost.existingServerEurPerMonth)})`;
    return [
        "  monthly cost, EUR excl. VAT:",
        ...cost.lines.map((l) =>
            row(l.label, l.eurPerMonth, l.item === "server" ? existing : l.eurPerMonth === l.idleEurPerMonth ? "" : ` (all idle: ${fmt(l.idleEurPerMonth)})`),
        ),
        row("total", cost.total.upperBound, ` (all databases idle: ${fmt(cost.total.idle)})`),
        ...(cost.review ? [`    review stack: ${cost.review.eurPerHour.toFixed(4)} an hour, ${fmt(cost.review.eur)} over a typical ${cost.review.hours} h`] : []),
        ...cost.litestream.map(
            (d) =>
                `    ${d.database}: sync ${d.syncInterval}, retention ${d.retention}, snapshots ${d.snapshotInterval ?? `per retention`}: ` +
                `${count(d.busyClassA)} Class A requests a month changing, ${count(d.idleClassA)} idle`,
        ),
        ...cost.notes.map((n) => `    ${n}`),
    ];
}
