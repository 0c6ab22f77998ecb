import * as fs from "fs";
import * as path from "path";
import type { PlanResult } from "./run";

/** JSON with object keys sorted, so equal content gives equal bytes. */
export function stableJson(value: unknown): string {
    const sort = (v: unknown): unknown =>
        Array.isArray(v)
            ? v.map(sort)
            : v && typeof v === "object"
              ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]))
              : v;
    return `${JSON.stringify(sort(value), null, 2)}\n`;
}

/** Refuses to clear a directory that is not a previous plan output. */
function prepareOutDir(dir: string): void {
    if (fs.existsSync(dir)) {
        const isPlanOutput = fs.existsSync(path.join(dir, "plan.json")) || fs.readdirSync(dir).length === 0;
        if (!isPlanOutput) throw new Error(`${dir} exists and is not a plan output (no plan.json); choose another --out`);
        fs.rmSync(dir, { recursive: true });
    }
    fs.mkdirSync(dir, { recursive: true });
}

/** Writes the artifacts, plan.json and `extra` files (cost.json) under `dir`. */
export function writePlan(result: Extract<PlanResult, { ok: true }>, dir: string, extra: Readonly<Record<string, string>> = {}): void {
    prepareOutDir(dir);
    for (const [file, content] of Object.entries(result.artifacts)) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        // Scripts stay runnable (the Kamal set's hooks), as the deploy step writes them.
        fs.writeFileSync(path.join(dir, file), content, { mode: content.startsWith("#!") ? 0o755 : 0o644 });
    }
    fs.writeFileSync(path.join(dir, "plan.json"), stableJson(result.entries));
    for (const [file, content] of Object.entries(extra)) fs.writeFileSync(path.join(dir, file), content);
}
