// A stand-in for the Pulumi CLI, faithful where the delivery scripts depend on it. Read from
// pulumi/pulumi v3.259.0 (the version .github/pulumi-version pins); the files are cited where used:
// - stack config validated against Pulumi.yaml exactly like pkg/workspace/config.go (mergeConfig:
//   missing keys first, all at once, then secret and type checks in key order), with the CLI's
//   message ("validating stack config: Stack 'pr-7' is missing configuration values ...");
// - a missing Pulumi.<stack>.yaml is an empty config (sdk/go/common/workspace/loaders.go
//   LoadProjectStack), not an error;
// - destroy validates only when it runs the program (--run-program, PULUMI_RUN_PROGRAM) since
//   3.249.0 (pulumi/pulumi#23691, pkg/cmd/pulumi/operations/destroy.go); earlier releases always
//   validated (v3.248.0 destroy.go), which PULUMI_STANDIN_VERSION=3.248.0 reproduces, together
//   with that release's lack of --skip-config-validation;
// - `config refresh` writes the config of the stack's last update, or fails with "no previous
//   deployment" (pkg/cmd/pulumi/config/config.go newConfigRefreshCmd, pkg/backend);
// - `stack rm` without --force refuses while resources remain (pkg/cmd/pulumi/stack/stack_remove.go);
// - `config get` prints the stack's value or the project's default, a secret decrypted, or fails
//   with "configuration key ... not found" (pkg/cmd/pulumi/config/config.go getConfig);
// - exit codes from pkg/cmd/pulumi/cmd/exit_codes.go: 3 login, 6 no such stack, 7 changes where
//   --expect-no-changes expected none, 1 anything else;
// - `--exclude` globs as pkg/resource/deploy/deployment.go getMatcher ("**" any run, "*" no ':').
// What "the service" holds (stacks, their updates and resources, drift a refresh would find) is a
// JSON file, PULUMI_STANDIN_SERVICE; every call is appended to PULUMI_STANDIN_LOG.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

export interface StandInStack {
    /** Resources the stack holds now. */
    resources: number;
    /** Every update and destroy, with the config it ran with; the last one is "the latest configuration". */
    updates: { kind: "update" | "destroy"; config: ConfigMap }[];
    /** The next destroy fails with this message and leaves the resources. */
    failDestroy?: string;
    /** What changed outside Pulumi: found by `preview --refresh` only. */
    drift?: { urn: string; op: string }[];
}

export interface StandInService {
    org: string;
    stacks: Record<string, StandInStack>;
    /** Resources a successful `up` leaves. */
    upResources?: number;
}

/** A stack file's config as YAML gives it: scalars, `{secure: ...}`, lists and maps. */
export type ConfigMap = Record<string, unknown>;

const VERSION = process.env.PULUMI_STANDIN_VERSION ?? "3.259.0";

class CliError extends Error {
    constructor(
        message: string,
        readonly code = 1,
    ) {
        super(message);
    }
}

const atLeast = (version: string, minor: number): boolean => Number(version.split(".")[1]) >= minor;

interface Flags {
    readonly values: Map<string, string[]>;
    readonly bools: Set<string>;
    readonly args: string[];
}

/** Cobra-like parsing of the flags a command declares; an undeclared flag is an error. */
function parseFlags(argv: readonly string[], valueFlags: readonly string[], boolFlags: readonly string[]): Flags {
    const values = new Map<string, string[]>();
    const bools = new Set<string>();
    const args: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (!arg.startsWith("--")) {
            args.push(arg);
            continue;
        }
        const eq = arg.indexOf("=");
        const name = (eq < 0 ? arg : arg.slice(0, eq)).slice(2);
        if (boolFlags.includes(name)) {
            if (eq >= 0 && arg.slice(eq + 1) === "false") bools.delete(name);
            else bools.add(name);
        } else if (valueFlags.includes(name)) {
            const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
            if (value === undefined) throw new CliError(`flag needs an argument: --${name}`);
            values.set(name, [...(values.get(name) ?? []), value]);
        } else {
            throw new CliError(`unknown flag: --${name}`);
        }
    }
    return { values, bools, args };
}

const one = (flags: Flags, name: string): string | undefined => flags.values.get(name)?.at(-1);

/** The stack a command acts on (`stack rm` also takes it as its argument); the CLI's error without one. */
function selectedStack(flags: Flags, fromArgument = false): string {
    const name = (fromArgument ? flags.args[0] : undefined) ?? one(flags, "stack");
    if (!name) throw new CliError("no stack selected; please use `pulumi stack select`", 6);
    return name;
}

function servicePath(): string {
    const file = process.env.PULUMI_STANDIN_SERVICE;
    if (!file) throw new CliError("stand-in: PULUMI_STANDIN_SERVICE is not set");
    return file;
}
const loadService = (): StandInService => JSON.parse(fs.readFileSync(servicePath(), "utf8")) as StandInService;
const saveService = (service: StandInService): void => fs.writeFileSync(servicePath(), `${JSON.stringify(service, null, 2)}\n`);

/** backenderr.MissingEnvVarForNonInteractiveError: CI has no other way to log in. */
function requireLogin(): void {
    if (!process.env.PULUMI_ACCESS_TOKEN) throw new CliError("PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions", 3);
}

interface Project {
    readonly dir: string;
    readonly name: string;
    readonly config: Record<string, { type?: string; items?: { type: string }; default?: unknown; value?: unknown; secret?: boolean }>;
}

/** sdk/go/common/workspace/paths.go DetectProjectPathFrom: the nearest Pulumi.yaml upwards. */
function readProject(): Project {
    for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
        const file = path.join(dir, "Pulumi.yaml");
        if (fs.existsSync(file)) {
            const doc = YAML.parse(fs.readFileSync(file, "utf8")) as { name: string; config?: Project["config"] };
            return { dir, name: doc.name, config: doc.config ?? {} };
        }
        if (path.dirname(dir) === dir) {
            throw new CliError(
                `no Pulumi.yaml project file found (searching upwards from ${process.cwd()}). If you have not created a project yet, use \`pulumi new\` to do so: no project file found`,
            );
        }
    }
}

const stackFile = (project: Project, stack: string): string => path.join(project.dir, `Pulumi.${stack}.yaml`);

function readStackConfig(project: Project, stack: string): ConfigMap {
    const file = stackFile(project, stack);
    if (!fs.existsSync(file)) return {};
    const doc = (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: ConfigMap };
    return { ...(doc.config ?? {}) };
}

function writeStackConfig(project: Project, stack: string, config: ConfigMap): void {
    fs.writeFileSync(stackFile(project, stack), YAML.stringify({ config }));
}

function requireStack(service: StandInService, name: string): StandInStack {
    const stack = service.stacks[name];
    if (!stack) throw new CliError(`no stack named '${name}' found`, 6);
    return stack;
}

const isSecure = (value: unknown): value is { secure: string } =>
    typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { secure?: unknown }).secure === "string";

/** The value as the CLI hands it to validation: strings, objects as parsed JSON, secure values decrypted. */
function plain(value: unknown): unknown {
    if (isSecure(value)) {
        if (!value.secure.startsWith("v1:")) throw new CliError(`failed to decrypt configuration value: not a ciphertext: ${JSON.stringify(value.secure)}`);
        return Buffer.from(value.secure.slice(3), "base64").toString("utf8");
    }
    if (typeof value === "object" && value !== null) return value;
    return value === null || value === undefined ? "" : String(value);
}

/** workspace.ValidateConfigValue */
function validType(type: string, items: { type: string } | undefined, value: unknown): boolean {
    if (type === "string") return typeof value === "string";
    if (type === "integer") return typeof value === "number" ? Number.isInteger(value) : typeof value === "string" && /^[+-]?\d+$/.test(value);
    if (type === "boolean") return typeof value === "boolean" || value === "true" || value === "false";
    if (type === "object") return typeof value === "object" && value !== null && !Array.isArray(value);
    return Array.isArray(value) && items !== undefined && value.every((item) => validType(items.type, undefined, item));
}

/** pkg/workspace/config.go formatMissingKeys */
function formatMissing(keys: string[]): string {
    if (keys.length === 1) return `'${keys[0]}'`;
    const sorted = [...keys].sort();
    return sorted.map((k, i) => (i === sorted.length - 1 ? `and '${k}'` : i === sorted.length - 2 ? `'${k}' ` : `'${k}', `)).join("");
}

/** pkg/workspace/config.go mergeConfig with validate=true: the first problem, or undefined. */
export function validateStackConfig(stack: string, project: Pick<Project, "name" | "config">, stackConfig: ConfigMap): string | undefined {
    const keys = Object.keys(project.config).sort();
    const full = (key: string): string => (key.includes(":") ? key : `${project.name}:${key}`);
    const merged: ConfigMap = { ...stackConfig };
    const missing: string[] = [];
    for (const key of keys) {
        const spec = project.config[key];
        if (full(key) in merged) continue;
        const hasDefault = spec.default !== undefined || spec.value !== undefined;
        if (!hasDefault && full(key).startsWith(`${project.name}:`)) missing.push(key);
        else if (hasDefault) merged[full(key)] = spec.default ?? spec.value;
    }
    if (missing.length > 0) return `Stack '${stack}' is missing configuration ${missing.length > 1 ? "values" : "value"} ${formatMissing(missing)}`;
    for (const key of keys) {
        const spec = project.config[key];
        if (spec.type === undefined) continue;
        const value = merged[full(key)];
        if (spec.secret && !isSecure(value)) return `Stack '${stack}' with configuration key '${key}' must be encrypted as it's secret`;
        if (!validType(spec.type, spec.items, plain(value))) {
            return `Stack '${stack}' with configuration key '${key}' must be of type '${spec.items ? `array<${spec.items.type}>` : spec.type}'`;
        }
    }
    return undefined;
}

function validateOrThrow(stack: string, project: Project, config: ConfigMap): void {
    const problem = validateStackConfig(stack, project, config);
    if (problem) throw new CliError(`validating stack config: ${problem}`);
}

/** `--config key=value` (pkg/cmd/pulumi/operations parseAndSaveConfigArray): saved to the stack file first. */
function applyConfigFlags(project: Project, stack: string, flags: Flags): ConfigMap {
    const config = readStackConfig(project, stack);
    const entries = flags.values.get("config") ?? [];
    for (const entry of entries) {
        const eq = entry.indexOf("=");
        if (eq < 0) throw new CliError(`could not parse ${entry} as a configuration key/value pair; expected key=value`);
        const key = entry.slice(0, eq);
        config[key.includes(":") ? key : `${project.name}:${key}`] = entry.slice(eq + 1);
    }
    if (entries.length > 0) writeStackConfig(project, stack, config);
    return config;
}

function requirePolicyPack(flags: Flags, project: Project): void {
    for (const pack of flags.values.get("policy-pack") ?? []) {
        // Stand-in wording: the real CLI fails installing a pack that is not there.
        if (!fs.existsSync(path.join(path.resolve(project.dir, pack), "PulumiPolicy.yaml"))) throw new CliError(`policy pack ${pack}: no PulumiPolicy.yaml`);
    }
}

/** Non-interactive updates need an explicit yes (backenderr.NoConfirmationInNonInteractiveError). */
function requireConfirmation(flags: Flags): void {
    if (!flags.bools.has("yes") && !flags.bools.has("skip-preview")) {
        throw new CliError("--yes or --skip-preview or --preview-only must be passed in to proceed when running in non-interactive mode", 2);
    }
}

/** pkg/resource/deploy/deployment.go UrnTargets.getMatcher */
export function urnGlob(glob: string): RegExp {
    const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`^${glob.split("**").map((seg) => seg.split("*").map(quote).join("[^:]*")).join(".*")}$`);
}

const STACK_FLAGS = ["stack", "config-file"];
const COMMON_BOOLS = ["non-interactive", "yes", "skip-preview", "diff", "suppress-outputs", "suppress-progress", "color"];

function run(argv: string[]): string {
    const [command, sub] = argv;
    if (command === "version") return `v${VERSION}\n`;
    if (command === "stack" && sub === "ls") {
        const flags = parseFlags(argv.slice(2), [], ["json", "all"]);
        requireLogin();
        readProject();
        const service = loadService();
        const rows = Object.entries(service.stacks).map(([name, s]) => ({ name: `${service.org}/${name}`, current: false, resourceCount: s.resources }));
        return flags.bools.has("json") ? `${JSON.stringify(rows, null, 4)}\n` : rows.map((r) => `${r.name}\n`).join("");
    }
    if (command === "stack" && sub === "select") {
        const flags = parseFlags(argv.slice(2), ["stack"], []);
        requireLogin();
        readProject();
        const name = selectedStack(flags, true);
        requireStack(loadService(), name);
        return "";
    }
    if (command === "stack" && sub === "init") {
        const flags = parseFlags(argv.slice(2), ["stack", "copy-config-from", "secrets-provider"], ["no-select"]);
        requireLogin();
        const project = readProject();
        const name = flags.args[0] ?? one(flags, "stack");
        if (!name) throw new CliError("stack name is required");
        const service = loadService();
        if (service.stacks[name]) throw new CliError(`stack '${name}' already exists`);
        const from = one(flags, "copy-config-from");
        if (from !== undefined) {
            requireStack(service, from);
            writeStackConfig(project, name, readStackConfig(project, from));
        }
        service.stacks[name] = { resources: 0, updates: [] };
        saveService(service);
        return `Created stack '${name}'\n`;
    }
    if (command === "stack" && (sub === "rm" || sub === "remove")) {
        const flags = parseFlags(argv.slice(2), ["stack"], ["yes", "non-interactive", "force", "preserve-config"]);
        requireLogin();
        const name = selectedStack(flags, true);
        const service = loadService();
        const stack = requireStack(service, name);
        if (!flags.bools.has("yes")) throw new CliError("--yes must be passed in to proceed when running in non-interactive mode", 2);
        if (stack.resources > 0 && !flags.bools.has("force")) {
            throw new CliError(
                `'${service.org}/${name}' still has resources; removal rejected. Possible actions:\n` +
                    `- Make sure that '${service.org}/${name}' is the stack that you want to destroy\n` +
                    "- Run `pulumi destroy` to delete the resources, then run `pulumi stack rm`\n" +
                    "- Run `pulumi stack rm --force` to override this error",
            );
        }
        delete service.stacks[name];
        saveService(service);
        if (!flags.bools.has("preserve-config")) {
            const file = path.join(process.cwd(), `Pulumi.${name}.yaml`);
            if (fs.existsSync(file)) fs.rmSync(file);
        }
        return `Stack '${service.org}/${name}' has been removed!\n`;
    }
    if (command === "config" && sub === "refresh") {
        const flags = parseFlags(argv.slice(2), STACK_FLAGS, ["force"]);
        requireLogin();
        const project = readProject();
        const name = selectedStack(flags);
        const stack = requireStack(loadService(), name);
        const latest = stack.updates.at(-1);
        if (!latest) throw new CliError("getting latest configuration: no previous deployment");
        const file = stackFile(project, name);
        if (fs.existsSync(file) && !flags.bools.has("force")) {
            let backup = `${file}.bak`;
            while (fs.existsSync(backup)) backup += ".bak";
            fs.renameSync(file, backup);
            writeStackConfig(project, name, latest.config);
            return `backed up existing configuration file to ${backup}\nrefreshed configuration for stack '${name}'\n`;
        }
        writeStackConfig(project, name, latest.config);
        return "";
    }
    if (command === "config" && sub === "get") {
        // pkg/cmd/pulumi/config/config.go getConfig: the stack's value, else the project's default
        // (ApplyProjectConfig), a secret decrypted, printed with a newline; else "not found".
        const flags = parseFlags(argv.slice(2), STACK_FLAGS, []);
        requireLogin();
        const project = readProject();
        const name = selectedStack(flags);
        const service = loadService();
        requireStack(service, name);
        const [key, extra] = flags.args;
        if (!key || extra !== undefined) throw new CliError(`accepts 1 arg(s), received ${flags.args.length}`);
        const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
        const short = fullKey.startsWith(`${project.name}:`) ? fullKey.slice(project.name.length + 1) : undefined;
        const value = readStackConfig(project, name)[fullKey] ?? (short === undefined ? undefined : project.config[short]?.default);
        if (value === undefined) throw new CliError(`configuration key '${short ?? fullKey}' not found for stack '${service.org}/${name}'`);
        const raw = plain(value);
        return `${typeof raw === "string" ? raw : JSON.stringify(raw)}\n`;
    }
    if (command === "config" && sub === "set") {
        // pkg/cmd/pulumi/config/config.go configSetCmd.Run: the value from the command line, else
        // from stdin when it is not a terminal (trailing newline removed unless --raw), else an error.
        const flags = parseFlags(argv.slice(2), STACK_FLAGS, ["secret", "plaintext", "path", "raw"]);
        requireLogin();
        const project = readProject();
        const name = selectedStack(flags);
        requireStack(loadService(), name);
        const [key, argValue, extra] = flags.args;
        if (!key || extra !== undefined) throw new CliError("accepts between 1 and 2 arg(s)");
        let value = argValue;
        if (value === undefined) {
            if (process.stdin.isTTY) throw new CliError("config value must be specified in non-interactive mode");
            const read = fs.readFileSync(0, "utf8");
            value = flags.bools.has("raw") ? read : read.replace(/\r?\n$/, "");
        }
        const fullKey = key.includes(":") ? key : `${project.name}:${key}`;
        const stored = flags.bools.has("secret") ? { secure: `v1:${Buffer.from(value, "utf8").toString("base64")}` } : value;
        writeStackConfig(project, name, { ...readStackConfig(project, name), [fullKey]: stored });
        return "";
    }
    if (command === "config" && (sub === "cp" || sub === "copy")) {
        const flags = parseFlags(argv.slice(2), [...STACK_FLAGS, "dest", "d"], ["path"]);
        requireLogin();
        const project = readProject();
        const from = one(flags, "stack");
        const to = one(flags, "dest") ?? one(flags, "d");
        if (!from || !to) throw new CliError("a source (--stack) and a destination (--dest) stack are required");
        if (from === to) throw new CliError("current stack and destination stack are the same");
        const service = loadService();
        requireStack(service, from);
        requireStack(service, to);
        // pkg/cmd/pulumi/stack/io.go CopyEntireConfigMap: every source key set on the destination.
        writeStackConfig(project, to, { ...readStackConfig(project, to), ...readStackConfig(project, from) });
        return "";
    }
    if (command === "destroy") {
        const flags = parseFlags(
            argv.slice(1),
            [...STACK_FLAGS, "exclude", "target"],
            [...COMMON_BOOLS, "run-program", "remove", "refresh", "exclude-protected", ...(atLeast(VERSION, 249) ? ["skip-config-validation"] : [])],
        );
        requireLogin();
        const project = readProject();
        const name = selectedStack(flags);
        const service = loadService();
        const stack = requireStack(service, name);
        requireConfirmation(flags);
        const config = readStackConfig(project, name);
        const runProgram = flags.bools.has("run-program") || process.env.PULUMI_RUN_PROGRAM === "true";
        const validates = atLeast(VERSION, 249) ? runProgram && !flags.bools.has("skip-config-validation") : true;
        if (validates) validateOrThrow(name, project, config);
        stack.updates.push({ kind: "destroy", config });
        if (stack.failDestroy) {
            saveService(service);
            throw new CliError(`update failed\n    ${stack.failDestroy}`);
        }
        const destroyed = stack.resources;
        stack.resources = 0;
        saveService(service);
        return `Resources:\n    - ${destroyed} deleted\n\nThe resources in the stack have been deleted, but the history and configuration associated with the stack are still maintained.\n`;
    }
    if (command === "up" || command === "update") {
        const flags = parseFlags(argv.slice(1), [...STACK_FLAGS, "config", "policy-pack", "exclude", "target", "message"], [...COMMON_BOOLS, "refresh", "skip-config-validation"]);
        requireLogin();
        const project = readProject();
        const name = selectedStack(flags);
        const service = loadService();
        const stack = requireStack(service, name);
        requireConfirmation(flags);
        const config = applyConfigFlags(project, name, flags);
        if (!flags.bools.has("skip-config-validation")) validateOrThrow(name, project, config);
        requirePolicyPack(flags, project);
        stack.updates.push({ kind: "update", config });
        stack.resources = service.upResources ?? 1;
        saveService(service);
        return `Resources:\n    ${stack.resources} unchanged\n`;
    }
    if (command === "preview") {
        const flags = parseFlags(
            argv.slice(1),
            [...STACK_FLAGS, "config", "policy-pack", "exclude", "target", "message"],
            [...COMMON_BOOLS, "refresh", "expect-no-changes", "json", "skip-config-validation", "exclude-dependents"],
        );
        requireLogin();
        const project = readProject();
        const name = selectedStack(flags);
        const stack = requireStack(loadService(), name);
        const config = applyConfigFlags(project, name, flags);
        if (!flags.bools.has("skip-config-validation")) validateOrThrow(name, project, config);
        requirePolicyPack(flags, project);
        const excluded = (flags.values.get("exclude") ?? []).map(urnGlob);
        // Drift lives in the cloud: only a refresh brings it into the preview.
        const changes = (flags.bools.has("refresh") ? (stack.drift ?? []) : []).filter((c) => !excluded.some((glob) => glob.test(c.urn)));
        const report = changes.map((c) => `    ${c.op === "update" ? "~" : c.op === "delete" ? "-" : "+"} ${c.urn} ${c.op}\n`).join("");
        const summary = `Resources:\n${changes.length > 0 ? `    ${changes.length} to change\n` : ""}    ${Math.max(stack.resources - changes.length, 0)} unchanged\n`;
        if (changes.length > 0 && flags.bools.has("expect-no-changes")) {
            process.stdout.write(`Previewing update (${name}):\n${report}${summary}`);
            throw new CliError("no changes were expected for preview but changes were proposed", 7);
        }
        return `Previewing update (${name}):\n${report}${summary}`;
    }
    throw new CliError(`unknown command ${JSON.stringify(argv.join(" "))} for "pulumi"`);
}

export function main(): void {
    const argv = process.argv.slice(2);
    const log = process.env.PULUMI_STANDIN_LOG;
    if (log) fs.appendFileSync(log, `pulumi ${argv.join(" ")}\n`);
    try {
        process.stdout.write(run(argv));
    } catch (err) {
        if (!(err instanceof CliError)) throw err;
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = err.code;
    }
}
