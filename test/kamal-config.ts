// The real Kamal's loader on a rendered set: `kamal config -c <dir>/deploy.yml -d <stack>` with
// test/kamal-probe.rb reporting what Kamal itself resolved (roles, accessories, kamal-proxy's commands).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { TYPE } from "../plan/resource-types";
import { KAMAL_FILES } from "../renderers/kamal";
import { OkPlan, plainInputs, resourcesOfType, ROOT } from "./support";

/** The Kamal set of a plan, by path relative to the set's directory. */
export function kamalSet(plan: OkPlan): Record<string, string> {
    return Object.fromEntries(
        Object.entries(plan.artifacts)
            .filter(([file]) => file.startsWith("kamal/"))
            .map(([file, text]) => [file.slice("kamal/".length), text]),
    );
}

/** The plan's deploy Command: its plain environment and its raw inputs. */
export function deployCommand(plan: OkPlan): { environment: Record<string, string>; raw: Record<string, unknown> } {
    const [command] = resourcesOfType(plan, TYPE.command).filter((c) => c.name.endsWith("-deploy-kamal"));
    return { environment: plainInputs(command).environment as Record<string, string>, raw: command.inputs };
}

export interface KamalConfigRun {
    readonly status: number | null;
    readonly output: string;
    /** The probe's report, when Kamal got as far as loading the set. */
    readonly probe?: Record<string, unknown>;
}

/** Writes `set` into `dir` and runs `kamal config` on it, with the secrets the deploy step would export. */
export function kamalConfig(kamal: string, plan: OkPlan, set: Record<string, string>, dir: string): KamalConfigRun {
    for (const [file, text] of Object.entries(set)) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
    }
    const environment = deployCommand(plan).environment;
    const secrets = Object.fromEntries(environment.RAILS_STACK_SECRET_NAMES.split(" ").map((n) => [n, environment[n]]));
    const run = spawnSync(kamal, ["config", "-c", path.join(dir, KAMAL_FILES.base), "-d", plan.stack, "--version", environment.RAILS_STACK_VERSION], {
        cwd: dir,
        encoding: "utf8",
        env: {
            PATH: process.env.PATH,
            HOME: dir,
            RAILS_STACK_KAMAL_DIR: dir,
            RUBYOPT: `-r${path.join(ROOT, "test", "kamal-probe.rb")}`,
            ...secrets,
        },
    });
    const output = `${run.stdout}${run.stderr}`;
    const line = output.split("\n").find((l) => l.startsWith("KAMAL-PROBE "));
    return { status: run.status, output, ...(line ? { probe: JSON.parse(line.slice("KAMAL-PROBE ".length)) } : {}) };
}
