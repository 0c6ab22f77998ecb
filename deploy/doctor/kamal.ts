// The Kamal the deploy step will run must understand the rendered set: `kamal version`, then a floor.
import { spawnSync } from "child_process";
import { valid } from "@snyk/ruby-semver";
import { atLeast } from "./gemfile-lock";
import { DoctorProblem } from "./report";

/**
 * The oldest Kamal that loads the rendered set (renderers/kamal.ts): `proxy.run` arrived in Kamal
 * 2.10.0 (basecamp/kamal 496bdcb, lib/kamal/configuration/proxy/run.rb) and `secrets_path` in 2.9.0
 * (1bf7069, "Make the secrets path configurable"); an older Kamal stops at "unknown key".
 */
export const KAMAL_MINIMUM = "2.10.0";
const WHY = "the rendered set uses proxy.run (Kamal 2.10) and secrets_path (Kamal 2.9)";

/** Runs `<kamal> version` (Kamal prints its version alone, lib/kamal/cli/main.rb); `shown` names it in messages. */
export function checkKamalVersion(kamal: string, shown: string, cwd: string): DoctorProblem | undefined {
    const fix = `run bundle update kamal in the app (or point RAILS_STACK_KAMAL at Kamal ${KAMAL_MINIMUM} or later)`;
    const run = spawnSync(kamal, ["version"], { cwd, encoding: "utf8", timeout: 120_000 });
    if (run.error && (run.error as NodeJS.ErrnoException).code === "ENOENT") {
        return { file: shown, message: `missing; the deploy step runs Kamal from it: add it (bundle binstubs kamal) or set RAILS_STACK_KAMAL to Kamal ${KAMAL_MINIMUM} or later` };
    }
    const printed = (run.stdout ?? "").trim().split("\n").pop() ?? "";
    if (run.error || run.status !== 0 || !valid(printed)) {
        const why = run.error?.message ?? ((run.stderr ?? "").trim().split("\n")[0] || `exit ${run.status}, printed ${JSON.stringify(printed)}`);
        return { file: shown, message: `\`${shown} version\` did not print Kamal's version (${why}), so the deploy step could not run it either: fix it, or ${fix}` };
    }
    if (!atLeast(printed, KAMAL_MINIMUM)) {
        return { file: shown, message: `is Kamal ${printed}, older than ${KAMAL_MINIMUM}, which ${WHY}: ${fix}` };
    }
    return undefined;
}
