import * as fs from "fs";
import * as path from "path";
import { PlanResult, stableJson } from "./run";

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
