// Live Hetzner prices: the price table with its Hetzner items replaced by what GET /pricing says
// for the project of the stack's token, and the table entries that no longer match. Loaded only
// when a plan has a real token (plan/cli.ts).
import { HOURS_TO_MONTHLY_CAP, PlanPrices, PriceSet, Rate, tablePrices } from "./cost";
import { ApiLocationPrice, ApiPricing, fetchPricing, hetznerEndpoint } from "../lib/hcloud-api";
import { PRICE_TABLE } from "./table";

const rate = (p: ApiLocationPrice): Rate => ({ eurPerMonth: Number(p.price_monthly.net), eurPerHour: Number(p.price_hourly.net) });
const same = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;

export interface LivePrices {
    readonly prices: PriceSet;
    /** One line per table entry the API contradicts, naming the entry's id. */
    readonly tableOutOfDate: readonly string[];
}

/** The table's price set with Hetzner's items from the API answer. */
export function livePriceSet(pricing: ApiPricing, table: PriceSet = tablePrices()): LivePrices {
    if (pricing.currency !== "EUR") throw new Error(`Hetzner prices this project in ${pricing.currency}; the cost is computed in EUR`);
    const newServers: Record<string, Rate> = {};
    for (const type of pricing.server_types) for (const p of type.prices) newServers[`${type.name}@${p.location}`] = rate(p);
    const ipv4 = pricing.primary_ips.find((ip) => ip.type === "ipv4");
    const primaryIpv4 = Object.fromEntries((ipv4?.prices ?? []).map((p) => [p.location, rate(p)]));
    const perGb = Number(pricing.volume.price_per_gb_month.net);
    const prices: PriceSet = {
        ...table,
        source: "hetzner-api",
        newServers,
        primaryIpv4,
        volumePerGb: { eurPerMonth: perGb, eurPerHour: perGb / HOURS_TO_MONTHLY_CAP },
    };

    const outOfDate: string[] = [];
    for (const entry of PRICE_TABLE) {
        if (entry.item === "server" && entry.order === "new") {
            const differing = entry.locations.filter((l) => {
                const live = newServers[`${entry.serverType}@${l}`];
                return !live || !same(live.eurPerMonth, entry.eurPerMonth);
            });
            if (differing.length > 0) {
                const live = differing.map((l) => `${l} ${newServers[`${entry.serverType}@${l}`]?.eurPerMonth.toFixed(4) ?? "not sold"}`).join(", ");
                outOfDate.push(`${entry.id}: table ${entry.eurPerMonth.toFixed(2)}/month, API ${live}`);
            }
        } else if (entry.item === "primaryIpv4") {
            const differing = Object.entries(primaryIpv4).filter(([, r]) => !same(r.eurPerMonth, entry.eurPerMonth));
            if (differing.length > 0 || !ipv4) {
                outOfDate.push(`${entry.id}: table ${entry.eurPerMonth.toFixed(2)}/month, API ${differing.map(([l, r]) => `${l} ${r.eurPerMonth.toFixed(4)}`).join(", ") || "no ipv4 price"}`);
            }
        } else if (entry.item === "volumePerGb" && !same(perGb, entry.eurPerMonth)) {
            outOfDate.push(`${entry.id}: table ${entry.eurPerMonth}/GB-month, API ${perGb}`);
        }
    }
    return { prices, tableOutOfDate: outOfDate };
}

/** Live prices with the stack's real token; a failing API falls back to the table, saying why. */
export async function pricesFor(token: string, endpoint = hetznerEndpoint()): Promise<PlanPrices> {
    try {
        const live = livePriceSet(await fetchPricing(token, endpoint));
        return {
            prices: live.prices,
            report: [
                `  prices: Hetzner's API (${endpoint}/pricing) for Hetzner items, pricing/table.ts for R2 and the exchange rate`,
                ...(live.tableOutOfDate.length === 0
                    ? ["  pricing/table.ts agrees with Hetzner's API"]
                    : ["  pricing/table.ts is out of date (update these entries):", ...live.tableOutOfDate.map((l) => `    ${l}`)]),
            ],
        };
    } catch (err) {
        return { prices: tablePrices(), report: [`  prices: pricing/table.ts; live prices failed: ${(err as Error).message}`] };
    }
}
