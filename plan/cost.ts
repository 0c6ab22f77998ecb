// The offline plan's cost: the plan's facts priced (pricing/cost.ts), and cost.json as written.
import { factsFromPlan, PriceSet, stackCost, StackCost } from "../pricing/cost";
import type { PlanResult } from "./run";
import { stableJson } from "./write";

export const LITESTREAM_ARTIFACT = "storage/litestream.yml";

export function planCost(result: Extract<PlanResult, { ok: true }>, prices: PriceSet): StackCost {
    const litestream = result.artifacts[LITESTREAM_ARTIFACT];
    if (litestream === undefined) throw new Error(`the plan has no ${LITESTREAM_ARTIFACT}`);
    return stackCost(factsFromPlan(result.stack, result.entries, litestream, result.settings.storage.assumedStoredGb), prices);
}

/** cost.json: money rounded to 1/10000 EUR so float noise never reaches a diff. */
export function costJson(cost: StackCost): string {
    const round = (value: unknown): unknown =>
        typeof value === "number" && !Number.isInteger(value)
            ? Math.round(value * 10_000) / 10_000
            : Array.isArray(value)
              ? value.map(round)
              : value && typeof value === "object"
                ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, round(v)]))
                : value;
    return stableJson(round(cost));
}
