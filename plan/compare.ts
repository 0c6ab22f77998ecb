// Two offline plans of one stack compared (base vs head): what the change does to the host, in
// words an operator acts on, and what it does to the monthly bill. Generic over plan.json: each
// resource's inputs are compared, a masked input through its rendered artifact, a change carried
// over from a replaced resource through inputDependencies, and each changed input judged by its
// provider's rule (plan/replacement-rules.ts).
import * as fs from "fs";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import { factsFromPlan, PriceSet, stackCost, StackCost } from "../pricing/cost";
import { LITESTREAM_ARTIFACT } from "./cost";
import { Effect, effectOf } from "./replacement-rules";
import { TYPE } from "./resource-types";
import type { PlanEntry } from "./run";

/**
 * Downtime estimates, minutes, not measured on Hetzner: a replacement orders and boots a server
 * (~1), runs the first-boot setup (apt upgrade, Docker, Tailscale: ~5) and `kamal setup` (~3);
 * a type change powers off, changes the type and boots (~2); a public network change powers off
 * and boots (~1).
 */
export const DOWNTIME_MINUTES = { replace: 10, changeType: 2, publicNet: 1 } as const;

export interface PlanOnDisk {
    readonly stack: string;
    readonly entries: readonly PlanEntry[];
    /** A rendered artifact's bytes, or undefined when the plan has none by that path. */
    readonly artifact: (file: string) => string | undefined;
    /** cost.json's assumption, when the plan wrote one. */
    readonly r2StoredGb?: number;
}

/** The plan written to `dir` for `stack`, or undefined when there is none (a base that did not plan). */
export function readPlanDir(dir: string, stack: string): PlanOnDisk | undefined {
    const planFile = path.join(dir, "plan.json");
    if (!fs.existsSync(planFile)) return undefined;
    const costFile = path.join(dir, "cost.json");
    const cost = fs.existsSync(costFile) ? (JSON.parse(fs.readFileSync(costFile, "utf8")) as Partial<StackCost>) : undefined;
    return {
        stack,
        // A plan written before these fields existed (an older base) has none.
        entries: (JSON.parse(fs.readFileSync(planFile, "utf8")) as (PlanEntry & Partial<Pick<PlanEntry, "inputDependencies" | "inputArtifacts">>)[]).map((e) => ({
            ...e,
            inputDependencies: e.inputDependencies ?? {},
            inputArtifacts: e.inputArtifacts ?? {},
        })),
        artifact: (file) => (fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), "utf8") : undefined),
        r2StoredGb: cost?.assumptions?.r2StoredGb,
    };
}

export interface ChangedInput {
    readonly input: string;
    readonly effect: Effect;
    readonly why: string;
}

export interface ResourceChange {
    readonly type: string;
    readonly name: string;
    readonly status: "added" | "removed" | "changed";
    readonly effect: Effect | null;
    readonly inputs: readonly ChangedInput[];
}

const key = (e: { type: string; name: string }): string => `${e.type}::${e.name}`;
const show = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));
const RANK: Record<Effect, number> = { update: 0, poweroff: 1, replace: 2 };
const strongest = (inputs: readonly ChangedInput[]): Effect | null =>
    inputs.reduce<Effect | null>((e, i) => (e === null || RANK[i.effect] > RANK[e] ? i.effect : e), null);

/** Every resource the change adds, removes or changes, with what it does to each. */
export function resourceChanges(base: PlanOnDisk, head: PlanOnDisk): ResourceChange[] {
    const baseBy = new Map(base.entries.map((e) => [key(e), e]));
    const headBy = new Map(head.entries.map((e) => [key(e), e]));
    const direct = new Map<string, ChangedInput[]>();
    for (const [k, now] of headBy) {
        const before = baseBy.get(k);
        if (!before) continue;
        const a = (before.inputs ?? {}) as Record<string, unknown>;
        const b = (now.inputs ?? {}) as Record<string, unknown>;
        const changed: ChangedInput[] = [];
        for (const input of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
            const file = now.inputArtifacts[input] ?? before.inputArtifacts[input];
            const why = file
                ? base.artifact(file) !== head.artifact(file)
                    ? `${file} changed`
                    : undefined
                : !isDeepStrictEqual(a[input], b[input])
                  ? typeof a[input] === "object" || typeof b[input] === "object"
                      ? "changed"
                      : `${show(a[input])} → ${show(b[input])}`
                  : undefined;
            if (why) changed.push({ input, effect: effectOf(now.type, input), why });
        }
        direct.set(k, changed);
    }
    // A replaced resource gets a new id and new outputs: carry that to the inputs derived from it,
    // until nothing more is replaced.
    const carried = (replaced: ReadonlySet<string>): Map<string, ChangedInput[]> =>
        new Map(
            [...direct].map(([k, inputs]) => {
                const now = headBy.get(k)!;
                const more = Object.entries(now.inputDependencies).flatMap(([input, deps]) => {
                    const from = deps.filter((d) => replaced.has(d));
                    return from.length > 0 ? [{ input, effect: effectOf(now.type, input), why: `${from.join(", ")} ${from.length === 1 ? "is" : "are"} replaced` }] : [];
                });
                return [k, [...inputs, ...more].sort((x, y) => x.input.localeCompare(y.input))];
            }),
        );
    const replacedIn = (changes: Map<string, ChangedInput[]>) =>
        new Set([...changes].filter(([, inputs]) => strongest(inputs) === "replace").map(([k]) => k.slice(k.indexOf("::") + 2)));
    let changes = direct;
    for (let replaced = replacedIn(changes); ; ) {
        changes = carried(replaced);
        const next = replacedIn(changes);
        if (next.size === replaced.size) break;
        replaced = next;
    }
    const result: ResourceChange[] = [];
    for (const [k, inputs] of changes) {
        const e = headBy.get(k)!;
        if (inputs.length > 0) result.push({ type: e.type, name: e.name, status: "changed", effect: strongest(inputs), inputs });
    }
    for (const [k, e] of headBy) if (!baseBy.has(k)) result.push({ type: e.type, name: e.name, status: "added", effect: null, inputs: [] });
    for (const [k, e] of baseBy) if (!headBy.has(k)) result.push({ type: e.type, name: e.name, status: "removed", effect: null, inputs: [] });
    return result.sort((x, y) => x.type.localeCompare(y.type) || x.name.localeCompare(y.name));
}

const inputOf = (plan: PlanOnDisk, type: string, name: string): Record<string, unknown> =>
    (plan.entries.find((e) => e.type === type && e.name === name)?.inputs ?? {}) as Record<string, unknown>;

const because = (change: ResourceChange, changes: readonly ResourceChange[], effect: Effect): string =>
    change.inputs
        .filter((i) => i.effect === effect)
        .map((i) => {
            // One level down: why the resource this input comes from is replaced.
            const cause = changes.find((c) => i.why.startsWith(`${c.name} `) && c.status === "changed");
            const detail = cause ? ` (its ${cause.inputs.filter((ci) => ci.effect === "replace").map((ci) => `${ci.input}: ${ci.why}`).join("; ")})` : "";
            return `${i.input}: ${i.why}${detail}`;
        })
        .join("; ");

/** The host impact in words an operator acts on: one line per change that replaces, powers off, orders or deletes. */
export function hostImpact(base: PlanOnDisk, head: PlanOnDisk, changes: readonly ResourceChange[] = resourceChanges(base, head)): string[] {
    const lines: string[] = [];
    const volumes = head.entries.filter((e) => e.type === TYPE.volume).map((e) => String((e.inputs as Record<string, unknown>).name ?? e.name));
    const volumeReplaced = changes.some((c) => c.type === TYPE.volume && (c.effect === "replace" || c.status === "removed"));
    for (const c of changes) {
        if (c.type === TYPE.server) {
            if (c.status === "added") lines.push(`**orders ${c.name}**, a new server (billed at the new-order price).`);
            else if (c.status === "removed") lines.push(`**deletes ${c.name}**: the app on it stops for good.`);
            else if (c.effect === "replace") {
                const data = volumeReplaced ? "the volume is replaced too, see below: its data does not carry over" : `data stays on the volume${volumes.length === 1 ? ` ${volumes[0]}` : ""}, which moves to the new server`;
                const guard = head.stack === "production" ? ` Production is protected: Pulumi refuses the replacement until you follow docs/hosts.md, "Replacing the host".` : "";
                lines.push(
                    `**replaces ${c.name}**: the app is down for ~${DOWNTIME_MINUTES.replace} minutes (shutdown, a new server ordered at the new-order price, first boot, deploy); ${data}.${guard} Because: ${because(c, changes, "replace")}.`,
                );
            } else {
                const before = inputOf(base, c.type, c.name);
                const after = inputOf(head, c.type, c.name);
                if (c.inputs.some((i) => i.input === "serverType")) {
                    const disk = after.keepDisk === true ? "the disk keeps its size, so it can go back to a smaller type" : "the disk grows to the new type's, so it can never go back to a smaller type";
                    lines.push(
                        `**shuts ${c.name} down to change its type** (${show(before.serverType)} → ${show(after.serverType)}), cleanly (its containers stop, Litestream syncs), and powers it on again: the app is down for ~${DOWNTIME_MINUTES.changeType} minutes; ${disk}; a rescale is billed at the new-order price.`,
                    );
                }
                if (c.inputs.some((i) => i.input === "publicNets")) {
                    const ipv4 = (nets: unknown) => ((nets as { ipv4Enabled?: boolean }[] | undefined) ?? []).some((n) => n.ipv4Enabled !== false);
                    const what = ipv4(before.publicNets) !== ipv4(after.publicNets) ? `primary IPv4 ${ipv4(after.publicNets) ? "added" : "removed"}` : "public_net changed";
                    lines.push(`**shuts ${c.name} down to change its public network** (${what}), cleanly, and powers it on again: the app is down for ~${DOWNTIME_MINUTES.publicNet} minute.`);
                }
            }
        } else if (c.type === TYPE.volume && (c.effect === "replace" || c.status === "removed")) {
            lines.push(`**${c.status === "removed" ? "deletes" : "replaces"} volume ${c.name}**: the databases on it are deleted with it (unless protected); ${c.status === "removed" ? "only Litestream's replicas remain" : "the deploy restores them from Litestream's replicas onto the new one"}. ${c.inputs.length ? `Because: ${because(c, changes, "replace")}.` : ""}`.trim());
        } else if (c.type === TYPE.volumeAttachment && (c.effect === "replace" || c.status !== "changed")) {
            // A stack created before the volume carried its serverId: deleting the attachment detaches the volume under the running app.
            const migration = c.status === "removed" ? " Before `pulumi up`, remove it from the state only (docs/hosts.md, \"Migrating a stack created before the volume carried its serverId\")." : "";
            lines.push(`**${c.status === "added" ? "attaches" : c.status === "removed" ? "detaches" : "detaches and re-attaches"} the volume** (${c.name})${c.inputs.length ? `: ${because(c, changes, "replace")}` : ""}.${migration}`);
        }
    }
    return lines;
}

const eur = (n: number): string => n.toFixed(2);
const signed = (n: number): string => (Math.abs(n) < 0.005 ? "±0.00" : `${n > 0 ? "+" : "−"}${eur(Math.abs(n))}`);

/** The stack's bill from its plan, at `prices` (the head's, for both sides). */
export function planOnDiskCost(plan: PlanOnDisk, prices: PriceSet, r2StoredGb: number): StackCost {
    const litestream = plan.artifact(LITESTREAM_ARTIFACT);
    if (litestream === undefined) throw new Error(`the plan of ${plan.stack} has no ${LITESTREAM_ARTIFACT}`);
    return stackCost(factsFromPlan(plan.stack, plan.entries, litestream, r2StoredGb), prices);
}

/** One stack's section: host impact, then the bill at base and head. */
export function compareStack(stack: string, base: PlanOnDisk | undefined, head: PlanOnDisk, prices: PriceSet, defaultR2StoredGb: number): string {
    const r2 = head.r2StoredGb ?? defaultR2StoredGb;
    const headCost = planOnDiskCost(head, prices, r2);
    const out = [`### ${stack}`, ""];
    if (!base) {
        out.push("The base branch did not plan this stack: no host comparison.", "");
    } else {
        const impact = hostImpact(base, head);
        out.push(...(impact.length > 0 ? impact.map((l) => `- ${l}`) : ["No change replaces, powers off, orders or deletes the host."]), "");
    }
    const baseCost = base ? planOnDiskCost(base, prices, base.r2StoredGb ?? r2) : undefined;
    const items = [...new Set([...(baseCost?.lines ?? []), ...headCost.lines].map((l) => l.item))];
    const row = (label: string, a: number | undefined, b: number) => `| ${label} | ${a === undefined ? "–" : eur(a)} | ${eur(b)} | ${a === undefined ? "" : signed(b - a)} |`;
    out.push("| monthly, EUR excl. VAT | base | head | change |", "|---|---:|---:|---:|");
    for (const item of items) {
        const a = baseCost?.lines.find((l) => l.item === item);
        const b = headCost.lines.find((l) => l.item === item);
        const label = a && b && a.label !== b.label ? `${a.label} → ${b.label}` : (b ?? a)!.label;
        out.push(row(label, a?.eurPerMonth ?? (baseCost ? 0 : undefined), b?.eurPerMonth ?? 0));
    }
    out.push(row("**total**, databases changing all month", baseCost?.total.upperBound, headCost.total.upperBound));
    out.push(row("total, databases idle", baseCost?.total.idle, headCost.total.idle));
    if (headCost.review) out.push("", `A review stack: ${headCost.review.eurPerHour.toFixed(4)} an hour, ${eur(headCost.review.eur)} over a typical ${headCost.review.hours} h.`);
    const server = base && resourceChanges(base, head).find((c) => c.type === TYPE.server && c.status === "changed" && (c.effect === "replace" || c.inputs.some((i) => i.input === "serverType")));
    if (server && baseCost?.existingServerEurPerMonth != null) {
        out.push(
            "",
            `**New order:** this change turns the existing ${server.name} into a new order at ${eur(headCost.lines[0].eurPerMonth)} a month; ordered before 2026-06-15 and never rescaled, it pays ${eur(baseCost.existingServerEurPerMonth)} today.`,
        );
    }
    return `${out.join("\n")}\n`;
}
