// Runs a job of a workflow in .github/workflows the way a GitHub-hosted runner would, as far as the
// delivery tests need: its `run:` steps for real (bash, with GitHub's default shells), local
// composite actions expanded, `${{ }}` expressions evaluated from a context, and remote actions
// handed to handlers the test provides (a remote action without a handler fails the run). Against
// a snapshot of this repository (every file `git add -A` would commit), so a job starts from a
// fresh clone: no Pulumi.pr-<n>.yaml, no node_modules, no build.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { ROOT } from "./support";

export const STAND_INS = path.join(ROOT, "test", "stand-ins", "bin");
export const WORKFLOWS = path.join(ROOT, ".github", "workflows");

export interface Step {
    name?: string;
    id?: string;
    if?: string;
    uses?: string;
    run?: string;
    shell?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
    "working-directory"?: string;
}
export interface Job {
    name?: string;
    if?: string;
    "runs-on"?: string;
    environment?: string;
    needs?: string | string[];
    uses?: string;
    with?: Record<string, unknown>;
    secrets?: unknown;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    env?: Record<string, unknown>;
    outputs?: Record<string, string>;
    defaults?: { run?: { shell?: string } };
    steps?: Step[];
}
export interface Workflow {
    name?: string;
    on: Record<string, unknown>;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    env?: Record<string, unknown>;
    defaults?: { run?: { shell?: string } };
    jobs: Record<string, Job>;
}
export interface Action {
    name: string;
    inputs?: Record<string, { required?: boolean; default?: string }>;
    runs: { using: string; steps: Step[] };
}

export const loadWorkflow = (file: string, dir = WORKFLOWS): Workflow => YAML.parse(fs.readFileSync(path.join(dir, file), "utf8")) as Workflow;

// ---- expressions ----------------------------------------------------------------------------

export type Context = Record<string, unknown>;

/**
 * GitHub's expression language, the part the workflows use: property paths, literals, `!`, `==`,
 * `!=`, `&&`, `||` and parentheses (docs.github.com, "Evaluate expressions in workflows and
 * actions"). Functions are refused rather than guessed.
 */
export function evaluate(expression: string, context: Context): unknown {
    const tokens = expression.match(/\s*('(?:[^']|'')*'|==|!=|&&|\|\||[!()]|[A-Za-z_][\w-]*(?:\.[\w-]+|\[[^\]]+\])*|-?\d+(?:\.\d+)?)\s*/gy);
    if (!tokens || tokens.join("").length !== expression.length) throw new Error(`expression not understood: ${expression}`);
    const list = tokens.map((t) => t.trim());
    let i = 0;
    const truthy = (v: unknown): boolean => !(v === false || v === 0 || v === "" || v === null || v === undefined);
    const equal = (a: unknown, b: unknown): boolean => {
        if (typeof a === "string" && typeof b === "string") return a.toLowerCase() === b.toLowerCase();
        if (typeof a === typeof b) return a === b;
        const num = (v: unknown): number => (v === null || v === undefined ? 0 : v === true ? 1 : v === false ? 0 : Number(v));
        return num(a) === num(b);
    };
    const primary = (): unknown => {
        const t = list[i++];
        if (t === undefined) throw new Error(`expression ends early: ${expression}`);
        if (t === "(") {
            const v = or();
            if (list[i++] !== ")") throw new Error(`missing ) in ${expression}`);
            return v;
        }
        if (t === "!") return !truthy(primary());
        if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
        if (t === "true" || t === "false") return t === "true";
        if (t === "null") return null;
        if (/^-?\d/.test(t)) return Number(t);
        if (list[i] === "(") throw new Error(`function calls are not emulated: ${expression}`);
        const parts = t.split(/\.|\[['"]?|['"]?\]/).filter((p) => p !== "");
        let value: unknown = context;
        for (const part of parts) value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
        return value ?? null;
    };
    const comparison = (): unknown => {
        let left = primary();
        while (list[i] === "==" || list[i] === "!=") {
            const op = list[i++];
            const right = primary();
            left = op === "==" ? equal(left, right) : !equal(left, right);
        }
        return left;
    };
    const and = (): unknown => {
        let left = comparison();
        while (list[i] === "&&") {
            i++;
            const right = comparison();
            left = truthy(left) ? right : left;
        }
        return left;
    };
    const or = (): unknown => {
        let left = and();
        while (list[i] === "||") {
            i++;
            const right = and();
            left = truthy(left) ? left : right;
        }
        return left;
    };
    const value = or();
    if (i !== list.length) throw new Error(`unexpected ${list[i]} in ${expression}`);
    return value;
}

const asText = (v: unknown): string => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

/** A string with `${{ }}` replaced; a value that is one whole expression keeps its type. */
export function interpolate(value: unknown, context: Context): unknown {
    if (typeof value !== "string") return value;
    const whole = /^\$\{\{(.*)\}\}$/s.exec(value.trim());
    if (whole && !whole[1].includes("}}")) return evaluate(whole[1].trim(), context);
    return value.replace(/\$\{\{(.*?)\}\}/gs, (_, e: string) => asText(evaluate(e.trim(), context)));
}

export const condition = (expression: string | undefined, context: Context): boolean => {
    if (expression === undefined) return true;
    const v = interpolate(expression.includes("${{") ? expression : `\${{ ${expression} }}`, context);
    return !(v === false || v === 0 || v === "" || v === null || v === undefined);
};

// ---- the repository as CI checks it out ------------------------------------------------------

/**
 * CI runs the tests as root (`sudo .ci/run`) in a checkout the runner's user owns, which git refuses
 * ("detected dubious ownership"): these reads of our own checkout trust it, through a global config
 * of their own (GIT_CONFIG_GLOBAL reaches the upload-pack a local clone starts; GIT_CONFIG_* does not).
 */
function gitConfig(): string {
    const file = path.join(os.tmpdir(), "rails-stack-tests.gitconfig");
    if (!fs.existsSync(file)) fs.writeFileSync(file, "[safe]\n\tdirectory = *\n");
    return file;
}

const git = (cwd: string, ...args: string[]): string =>
    execFileSync("git", args, {
        cwd,
        encoding: "utf8",
        env: { ...process.env, GIT_CONFIG_GLOBAL: gitConfig(), GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" },
    });

/**
 * A repository holding this worktree as it would be committed now (`git clone`, then every file
 * `git add -A` would add): what a fresh CI checkout sees. `change` edits a working copy for the
 * scenario's next commit (e.g. staging's config moving on).
 */
export class RepoSnapshot {
    readonly dir: string;
    private readonly work: string;

    constructor(parent: string) {
        this.work = path.join(parent, "snapshot");
        git(parent, "clone", "--quiet", "--no-hardlinks", ROOT, this.work);
        git(this.work, "checkout", "--quiet", "-B", "main");
        for (const file of git(ROOT, "ls-files", "--deleted", "-z").split("\0").filter(Boolean)) fs.rmSync(path.join(this.work, file), { force: true });
        for (const file of git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0").filter(Boolean)) {
            const from = path.join(ROOT, file);
            if (!fs.existsSync(from)) continue;
            fs.mkdirSync(path.dirname(path.join(this.work, file)), { recursive: true });
            fs.copyFileSync(from, path.join(this.work, file));
            fs.chmodSync(path.join(this.work, file), fs.statSync(from).mode);
        }
        this.commit("the worktree as it stands");
        this.dir = this.work;
    }

    change(message: string, edit: (dir: string) => void): void {
        edit(this.work);
        this.commit(message);
    }

    private commit(message: string): void {
        git(this.work, "add", "-A");
        if (git(this.work, "status", "--porcelain").trim() !== "") git(this.work, "commit", "--quiet", "-m", message);
    }
}

/** actions/checkout: a clone of `source` at `ref`, origin pointing at github.com as the action leaves it. */
export function checkout(source: string, dest: string, repository: string, ref?: string): void {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    git(path.dirname(dest), "clone", "--quiet", source, dest);
    if (ref) git(dest, "checkout", "--quiet", ref);
    git(dest, "remote", "set-url", "origin", `https://github.com/${repository}`);
}

// ---- running a job ---------------------------------------------------------------------------

/**
 * A remote action (`owner/name@sha`): does what the action would on the runner, or throws. It may
 * return variables it adds to the environment of the job's later steps (as the Pulumi action puts
 * its CLI on the PATH).
 */
export type ActionHandler = (inputs: Record<string, string>, run: { workspace: string; env: Record<string, string> }) => Record<string, string> | void;

export interface JobResult {
    /** 0 when every step succeeded; else the failing step's exit code. */
    readonly status: number;
    /** stdout and stderr of every step, in order. */
    readonly output: string;
    /** `uses:` of every remote action met, with its inputs. */
    readonly actions: { uses: string; with: Record<string, string> }[];
    /** The job's outputs (`outputs:` evaluated against its steps). */
    readonly outputs: Record<string, string>;
    /** Every value a step masked with `::add-mask::`. */
    readonly masks: string[];
}

export interface JobRun {
    readonly workflowFile: string;
    readonly job: string;
    readonly workspace: string;
    /** github, vars, inputs, ... (secrets come from `environments`). */
    readonly context: Context;
    /** Each environment's secrets, as the repository settings hold them: a job gets its environment's only. */
    readonly environments: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /** Repository-level secrets, which every job gets (the delivery here uses none). */
    readonly repositorySecrets?: Readonly<Record<string, string>>;
    readonly handlers: Readonly<Record<string, ActionHandler>>;
    /** The process environment every step starts from (PATH with the stand-ins, their files). */
    readonly env: Record<string, string>;
    /** Where the workflows live (default: this repository's). */
    readonly workflowsDir?: string;
}

/**
 * A bin directory with an `npm` that does what `npm ci` leaves behind, from this checkout's
 * node_modules, and runs `npm run` of the scripts given a stand-in (script name → command).
 */
export function npmStandIn(dir: string, scripts: Readonly<Record<string, readonly string[]>> = {}): string {
    const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
    const cases = Object.entries(scripts).map(([name, command]) => `    ${quote(name)}) exec ${command.map(quote).join(" ")} "$@" ;;`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
        path.join(dir, "npm"),
        `#!/bin/bash
# npm ci: refuses without a lockfile (npm's own rule), then links this checkout's node_modules.
# npm run [--silent] <script> [-- <args>], from the project's directory: a script package.json
# lacks is npm's "Missing script" (exit 1, said unless --silent); else npm's banner unless
# --silent, and the stand-in with the arguments after --, whose exit code is npm's
# (npm/cli lib/commands/run-script.js; the banner, the message and the exit codes as npm 11.19
# shows them).
case "$1" in
ci)
    [ -f package-lock.json ] || { echo "npm ERR! The \\\`npm ci\\\` command can only install with an existing package-lock.json" >&2; exit 1; }
    ln -sfn ${JSON.stringify(path.join(ROOT, "node_modules"))} node_modules
    ;;
run)
    shift
    silent=false
    if [ "$1" = --silent ]; then silent=true; shift; fi
    name="$1"
    shift
    [ "\${1:-}" != -- ] || shift
    [ -f package.json ] || { echo "npm stand-in: run from the project's directory" >&2; exit 1; }
    script="$(node -e 'process.stdout.write(require(process.argv[1]).scripts?.[process.argv[2]] ?? "")' "$PWD/package.json" "$name")"
    [ -n "$script" ] || { $silent || printf 'npm error Missing script: "%s"\\n' "$name" >&2; exit 1; }
    $silent || printf '\\n> %s %s\\n> %s\\n\\n' "$(node -p 'const p = require(process.argv[1]); p.name + "@" + p.version' "$PWD/package.json")" "$name" "$script $*"
    case "$name" in
${cases.join("\n")}
    *) echo "npm stand-in: no stand-in for npm run $name" >&2; exit 1 ;;
    esac
    ;;
*) echo "npm stand-in: only ci and run" >&2; exit 1 ;;
esac
`,
        { mode: 0o755 },
    );
    return dir;
}

/**
 * `sudo` and `apt-get` as a GitHub-hosted runner has them, in a bin directory: sudo runs its command
 * as root without a password (the runner's user may), apt-get refuses to work unless root (apt's
 * "Could not open lock file", exit 100) and installs only packages whose commands this machine
 * already has, refusing others as apt does an unknown package ("Unable to locate package", exit
 * 100). Each apt-get call is appended to `log`. Root is what sudo says (SUDO_USER), as the tests
 * themselves may run as root.
 */
export function aptStandIn(dir: string, log: string): string {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "sudo"), `#!/bin/bash\nSUDO_USER=runner exec "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(
        path.join(dir, "apt-get"),
        `#!/bin/bash
[ -n "\${SUDO_USER:-}" ] || { echo "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)" >&2; exit 100; }
echo "apt-get $*" >>${JSON.stringify(log)}
args=()
for arg in "$@"; do case "$arg" in -*) ;; *) args+=("$arg") ;; esac; done
case "\${args[0]:-}" in
update) echo "Reading package lists..." ;;
install)
    for package in "\${args[@]:1}"; do
        command -v "$package" >/dev/null || { echo "E: Unable to locate package $package" >&2; exit 100; }
        echo "$package is already the newest version."
    done
    ;;
*) echo "apt-get stand-in: only update and install" >&2; exit 100 ;;
esac
`,
        { mode: 0o755 },
    );
    return dir;
}

export function runJob(run: JobRun): JobResult {
    const workflow = loadWorkflow(run.workflowFile, run.workflowsDir);
    const job = workflow.jobs[run.job];
    if (!job?.steps) throw new Error(`${run.workflowFile} has no job ${run.job} with steps`);
    const runner = fs.mkdtempSync(path.join(os.tmpdir(), "runner-"));
    const files = { output: path.join(runner, "output"), summary: path.join(runner, "summary"), env: path.join(runner, "env") };
    const steps: Record<string, { outputs: Record<string, string> }> = {};
    const secrets = { ...run.repositorySecrets, ...(job.environment === undefined ? {} : run.environments[job.environment]) };
    const context: Context = { ...run.context, secrets, steps, env: {} };
    const github = (run.context.github ?? {}) as Record<string, unknown>;
    const baseEnv: Record<string, string> = {
        ...run.env,
        CI: "true",
        GITHUB_ACTIONS: "true",
        GITHUB_WORKSPACE: run.workspace,
        GITHUB_REPOSITORY: asText(github.repository),
        GITHUB_REF: asText(github.ref),
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_RUN_ID: "4242",
        GITHUB_STEP_SUMMARY: files.summary,
        RUNNER_TEMP: runner,
    };
    const scoped = (vars: Record<string, unknown> | undefined, ctx: Context): Record<string, string> =>
        Object.fromEntries(Object.entries(vars ?? {}).map(([k, v]) => [k, asText(interpolate(v, ctx))]));
    const workflowEnv = scoped(workflow.env, context);
    context.env = workflowEnv;
    const jobEnv = { ...workflowEnv, ...scoped(job.env, context) };
    context.env = jobEnv;
    const shellOf = (step: Step, composite: boolean): string | undefined => {
        if (composite && !step.shell) throw new Error(`a composite action's run step needs shell: ${step.name ?? step.run}`);
        return step.shell ?? job.defaults?.run?.shell ?? workflow.defaults?.run?.shell;
    };
    let output = "";
    const actions: JobResult["actions"] = [];
    const masks: string[] = [];
    /**
     * `::add-mask::<value>` lines, as the runner handles them: consumed, never shown
     * (actions/runner src/Runner.Worker/ActionCommandManager.cs, AddMaskCommandExtension.OmitEcho;
     * a command line starts with "::" after leading spaces, src/Runner.Common/ActionCommand.cs
     * TryParseV2). The values are recorded, not masked: a test sees what a script printed.
     */
    const addMasks = (text: string): string =>
        text
            .split(/(?<=\n)/)
            .filter((line) => {
                const mask = /^\s*::add-mask::(.*)$/.exec(line.replace(/\r?\n$/, ""));
                if (mask) masks.push(mask[1]);
                return !mask;
            })
            .join("");
    fs.mkdirSync(run.workspace, { recursive: true });

    const runSteps = (list: Step[], ctx: Context, composite: boolean): number => {
        for (const step of list) {
            if (!condition(step.if, ctx)) continue;
            const stepEnv = { ...baseEnv, ...jobEnv, ...scoped(step.env, ctx) };
            const cwd = path.join(run.workspace, asText(interpolate(step["working-directory"] ?? ".", ctx)));
            let status = 0;
            fs.writeFileSync(files.output, "");
            if (step.run !== undefined) {
                const script = path.join(runner, "step.sh");
                fs.writeFileSync(script, asText(interpolate(step.run, ctx)));
                // GitHub's defaults: `bash -e {0}` when no shell is named, `bash --noprofile --norc -eo pipefail {0}` for bash.
                const shell = shellOf(step, composite);
                if (shell !== undefined && shell !== "bash") throw new Error(`shell ${shell} is not emulated`);
                const argv = shell === "bash" ? ["--noprofile", "--norc", "-eo", "pipefail", script] : ["-e", script];
                const result = spawnSync("bash", argv, { cwd, env: { ...stepEnv, GITHUB_OUTPUT: files.output, GITHUB_ENV: files.env }, encoding: "utf8" });
                output += `--- ${step.name ?? step.run.split("\n")[0]}\n${[result.stdout, result.stderr].map(addMasks).join("")}`;
                status = result.status ?? 1;
            } else if (step.uses?.startsWith("./")) {
                const dir = path.join(run.workspace, step.uses);
                const action = YAML.parse(fs.readFileSync(path.join(dir, "action.yml"), "utf8")) as Action;
                if (action.runs.using !== "composite") throw new Error(`${step.uses}: only composite actions are emulated`);
                const given = scoped(step.with, ctx);
                for (const name of Object.keys(given)) if (!(name in (action.inputs ?? {}))) throw new Error(`${step.uses}: unexpected input ${name}`);
                const inputs = Object.fromEntries(
                    Object.entries(action.inputs ?? {}).map(([name, spec]) => {
                        if (spec.required && given[name] === undefined) throw new Error(`${step.uses}: input ${name} is required`);
                        return [name, given[name] ?? spec.default ?? ""];
                    }),
                );
                status = runSteps(action.runs.steps, { ...ctx, inputs }, true);
            } else if (step.uses) {
                const name = step.uses.split("@")[0];
                const handler = run.handlers[name];
                if (!handler) throw new Error(`no handler for ${step.uses}`);
                const inputs = scoped(step.with, ctx);
                actions.push({ uses: step.uses, with: inputs });
                try {
                    Object.assign(baseEnv, handler(inputs, { workspace: run.workspace, env: stepEnv }) ?? {});
                } catch (err) {
                    output += `--- ${step.uses}\n${(err as Error).message}\n`;
                    status = 1;
                }
            }
            if (step.id) {
                const lines = fs.readFileSync(files.output, "utf8").split("\n").filter((l) => l.includes("="));
                steps[step.id] = { outputs: Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)])) };
            }
            if (status !== 0) return status;
        }
        return 0;
    };

    const status = runSteps(job.steps, context, false);
    const outputs = scoped(job.outputs, context);
    if (fs.existsSync(files.summary)) output += `--- summary\n${fs.readFileSync(files.summary, "utf8")}`;
    fs.rmSync(runner, { recursive: true, force: true });
    return { status, output, actions, outputs, masks };
}
