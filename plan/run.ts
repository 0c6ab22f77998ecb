// Evaluates the whole program under Pulumi's mocks with a stack's config file: the offline plan.
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { KEY_NAMES, KEYS, KeyName, KeySpec, PROJECT } from "../config/keys";
import { loadConfig } from "../config/load";
import { parseConfig, stackKind } from "../config/parse";
import { credentialKeysOf } from "../config/parse-storage";
import type { Settings } from "../config/settings";
import { ForeignValue, isUnset, RawConfig } from "../config/raw";
import { CommitReader, readCheckoutCommit } from "../lib/app-checkout";
import { readProjectDefaults, readStackFile, YamlRead } from "../lib/stack-file";
import { createStack, StackResult } from "../program";
import { EngineRegistration, failingOnProgramError, recordRegistrations, waitForRPCs } from "./engine";
import { recordingMocks, RecordedInvoke, RecordedResource } from "./mocks";

export { getMonitor, waitForRPCs } from "./engine";
export type { EngineRegistration } from "./engine";

/** Marker Pulumi puts on secret values it hands to mocks. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_MASK = "[secret]";

export interface StackConfigSource extends RawConfig {
    /** The stack file the values came from. */
    readonly file: string;
    readonly otherNamespaces: Readonly<Record<string, ForeignValue>>;
    /** Keys whose values are placeholders (encrypted, or declared secrets the file lacks). */
    readonly placeholders: readonly string[];
}

/** A stack's config, or one line per problem that stops the CLI before the program runs. */
export type StackConfigRead = { readonly ok: true; readonly source: StackConfigSource } | { readonly ok: false; readonly errors: readonly string[] };

/** The resource options that decide what a change or a destroy may do, as the program set them. */
export interface RecordedOptions {
    readonly protect: boolean;
    /** Left in the cloud when Pulumi deletes it. */
    readonly retainOnDelete: boolean;
    readonly deleteBeforeReplace: boolean;
    readonly ignoreChanges: readonly string[];
    /** Explicit dependencies, as `<type>::<name>`. */
    readonly dependsOn: readonly string[];
    readonly additionalSecretOutputs: readonly string[];
}

export interface PlanEntry {
    readonly type: string;
    readonly name: string;
    readonly parent: string | null;
    readonly inputs: unknown;
    /** Per input, the resources its value is derived from (by name): what a replacement carries over. */
    readonly inputDependencies: Readonly<Record<string, readonly string[]>>;
    /** Per secret input that is a rendered artifact, the artifact's path: how a change to it shows. */
    readonly inputArtifacts: Readonly<Record<string, string>>;
}

export type PlanResult =
    | {
          readonly ok: true;
          readonly stack: string;
          readonly source: StackConfigSource;
          readonly settings: Settings;
          /** plan.json's content: secrets masked, sorted by type and name. */
          readonly entries: readonly PlanEntry[];
          /** What the mocks received, secrets still wrapped (for tests). */
          readonly resources: readonly RecordedResource[];
          /** What the engine received, by `<type>::<name>`. */
          readonly registrations: ReadonlyMap<string, EngineRegistration>;
          readonly invokes: readonly RecordedInvoke[];
          /** Resource options by `<type>::<name>` (mocks never see options). */
          readonly options: ReadonlyMap<string, RecordedOptions>;
          readonly artifacts: Readonly<Record<string, string>>;
          readonly outputs: Readonly<Record<string, unknown>>;
      }
    | { readonly ok: false; readonly stack: string; readonly errors: readonly string[] };

export function isSecretValue(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG] !== undefined;
}

/** Deep copy with every secret wrapper replaced by `onSecret(wrapper)`. */
function mapSecrets(value: unknown, onSecret: (secret: { value: unknown }) => unknown): unknown {
    if (isSecretValue(value)) return onSecret(value);
    if (Array.isArray(value)) return value.map((v) => mapSecrets(v, onSecret));
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapSecrets(v, onSecret)]));
    }
    return value;
}

/** Deep copy with every secret replaced by SECRET_MASK. */
export const maskSecrets = (value: unknown): unknown => mapSecrets(value, () => SECRET_MASK);

/** Deep copy with every secret replaced by its value. */
export const revealSecrets = (value: unknown): unknown => mapSecrets(value, (secret) => revealSecrets(secret.value));

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

/**
 * Pulumi.yaml's defaults, parsed once per content and reader: its 6 KB of YAML cost the plan about
 * as much as the rest of its config reading (the `yaml` parser's first use), and change only with
 * config/keys.ts. Kept in the temp directory under the SHA-256 of the file and of the code that
 * reads it; a problem in the file is never cached.
 */
function projectDefaults(text: string): YamlRead<Record<string, string>> {
    const reader = [require.resolve("../lib/stack-file"), require.resolve("../config/raw")].map((f) => fs.readFileSync(f, "utf8"));
    const digest = createHash("sha256").update([text, ...reader].join("\0")).digest("hex");
    const cache = path.join(os.tmpdir(), `rails-stack-pulumi-defaults-${digest}.json`);
    try {
        return { ok: true, value: JSON.parse(fs.readFileSync(cache, "utf8")) as Record<string, string> };
    } catch {
        const read = readProjectDefaults(text, "Pulumi.yaml");
        if (read.ok) {
            // Written whole, then renamed: a concurrent plan reads the old file or the new one.
            const partial = `${cache}.${process.pid}`;
            fs.writeFileSync(partial, JSON.stringify(read.value));
            fs.renameSync(partial, cache);
        }
        return read;
    }
}

/**
 * Config as `pulumi` would pass it for the stack: Pulumi.yaml defaults, then Pulumi.<stack>.yaml
 * (staging's for a pr-<n> stack without a file of its own), then `overrides` (`key` or
 * `<namespace>:key` → value). Encrypted values and declared secrets the file lacks become
 * placeholders. The stack name is checked before any file is looked for.
 */
export function readStackConfig(rootDir: string, stack: string, overrides: Readonly<Record<string, string>> = {}): StackConfigRead {
    const kind = stackKind(stack);
    if ("error" in kind) return { ok: false, errors: [kind.error] };
    const own = `Pulumi.${stack}.yaml`;
    // A review stack has no file of its own unless someone made one: it runs on staging's config.
    const file = kind.kind === "review" && !fs.existsSync(path.join(rootDir, own)) ? "Pulumi.staging.yaml" : own;
    const note = file === own ? "" : ` (${stack} reads staging's file)`;
    const filePath = path.join(rootDir, file);
    if (!fs.existsSync(filePath)) {
        const init = file === own ? stack : "staging";
        return { ok: false, errors: [`${file}: no such stack file in ${rootDir}; create it with: pulumi stack init ${init}${note}`] };
    }

    const defaults = projectDefaults(fs.readFileSync(path.join(rootDir, "Pulumi.yaml"), "utf8"));
    if (!defaults.ok) return defaults;
    const entries = readStackFile(fs.readFileSync(filePath, "utf8"), file, note);
    if (!entries.ok) return entries;

    const values: Record<string, string> = { ...defaults.value };
    const secretKeys = new Set<string>();
    const placeholders = new Set<string>();
    const otherNamespaces: Record<string, ForeignValue> = {};
    for (const entry of entries.value) {
        if (entry.namespace !== PROJECT) {
            otherNamespaces[`${entry.namespace}:${entry.key}`] = { value: entry.value, secret: entry.encrypted };
        } else if (entry.encrypted) {
            values[entry.key] = `placeholder-${entry.key}`;
            secretKeys.add(entry.key);
            placeholders.add(entry.key);
        } else {
            values[entry.key] = entry.value;
        }
    }
    for (const [name, value] of Object.entries(overrides)) {
        const colon = name.indexOf(":");
        if (colon >= 0 && name.slice(0, colon) !== PROJECT) {
            otherNamespaces[name] = { value, secret: false };
            continue;
        }
        const key = name.slice(colon + 1);
        values[key] = value;
        placeholders.delete(key);
        // A one-off value for this run, kept secret when the key is one (nothing is stored).
        if (key in KEYS && (KEYS[key as KeyName] as KeySpec).secret) secretKeys.add(key);
        else secretKeys.delete(key);
    }
    const declaredSecrets = KEY_NAMES.filter((k) => (KEYS[k] as KeySpec).secret);
    const tailscaleCredentials: KeyName[] = ["tailscaleApiKey", "tailscaleOauthClientId", "tailscaleOauthClientSecret"];
    const hasTailscaleCredential = tailscaleCredentials.some((key) => !isUnset(key, values[key]));
    // The R2 key pairs this kind of stack deploys with (npm run r2-credentials sets them, never the plan).
    const r2Keys = new Set<string>(Object.values(credentialKeysOf(kind.kind)).flatMap((pair) => [pair.accessKeyId, pair.secretAccessKey]));
    for (const key of declaredSecrets) {
        // Set, even blank (a required key's blank value is the user's, for the parser to report).
        if (!isUnset(key, values[key])) continue;
        // The tailnet takes an API key or an OAuth client; stand in an API key when neither is set.
        // The push credential only where Kamal builds (buildImage true, the default).
        const wanted =
            (KEYS[key] as KeySpec).required || (key === "tailscaleApiKey" && !hasTailscaleCredential) || r2Keys.has(key) || (key === "registryPushPassword" && values.buildImage !== "false");
        if (!wanted) continue;
        values[key] = `placeholder-${key}`;
        secretKeys.add(key);
        placeholders.add(key);
    }
    return { ok: true, source: { file, values, secretKeys, otherNamespaces, placeholders: [...placeholders].sort() } };
}

/** readStackConfig for callers that cannot go on without the config: its problems become one Error. */
export function stackConfigFromFiles(rootDir: string, stack: string, overrides: Readonly<Record<string, string>> = {}): StackConfigSource {
    const read = readStackConfig(rootDir, stack, overrides);
    if (!read.ok) throw new Error(read.errors.join("\n"));
    return read.source;
}

/** Points Pulumi's runtime at mocks for `stack`, with the source's config as the CLI would pass it. */
export async function useMockedStack(stack: string, source: RawConfig, mocks: pulumi.runtime.Mocks): Promise<void> {
    const other = Object.entries(source.otherNamespaces ?? {});
    const config = {
        ...Object.fromEntries(other.map(([fullKey, { value }]) => [fullKey, value])),
        ...Object.fromEntries(Object.entries(source.values).map(([k, v]) => [`${PROJECT}:${k}`, v])),
    };
    const secretKeys = [...[...source.secretKeys].map((k) => `${PROJECT}:${k}`), ...other.filter(([, v]) => v.secret).map(([fullKey]) => fullKey)];
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(mocks, PROJECT, stack, false);
}

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((v) => (resolve(v), v)));
}

export interface PlanOptions {
    /** Reads the app's commit when appVersion is unset (default: the real run's reader). */
    readonly readCommit?: CommitReader;
    /** Wraps the recording mocks, e.g. to add latency (plan/critical-path.ts). */
    readonly wrapMocks?: (mocks: pulumi.runtime.Mocks) => pulumi.runtime.Mocks;
}

/** Runs the program under mocks. Invalid config returns the validation messages, nothing else runs. */
export async function runPlan(stack: string, source: StackConfigSource, options: PlanOptions = {}): Promise<PlanResult> {
    const parsed = parseConfig(source, stack);
    if (!parsed.ok) return { ok: false, stack, errors: parsed.errors };

    const resources: RecordedResource[] = [];
    const invokes: RecordedInvoke[] = [];
    const mocks = recordingMocks(resources, invokes);
    await useMockedStack(stack, source, options.wrapMocks ? options.wrapMocks(mocks) : mocks);
    const registrations = new Map<string, EngineRegistration>();
    recordRegistrations(registrations);

    const recordedOptions = new Map<string, RecordedOptions>();
    const keyOf = new Map<pulumi.Resource, string>();
    let artifactOutputs: StackResult["artifacts"] = {};
    const artifacts: Record<string, string> = {};
    const outputs = await failingOnProgramError(async () => {
        const stackOutputs = await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const key = `${args.type}::${args.name}`;
                keyOf.set(args.resource, key);
                const opts = args.opts as pulumi.CustomResourceOptions;
                // The program passes resources directly (never Outputs of them), so these are plain values.
                const dependsOn = ([] as unknown[]).concat(opts.dependsOn ?? []) as pulumi.Resource[];
                recordedOptions.set(key, {
                    protect: opts.protect === true,
                    retainOnDelete: opts.retainOnDelete === true,
                    deleteBeforeReplace: opts.deleteBeforeReplace === true,
                    ignoreChanges: opts.ignoreChanges ?? [],
                    dependsOn: dependsOn.map((r) => keyOf.get(r) ?? "(unknown)").sort(),
                    additionalSecretOutputs: opts.additionalSecretOutputs ?? [],
                });
                return undefined;
            });
            const result = createStack(loadConfig(options.readCommit ?? readCheckoutCommit));
            artifactOutputs = { ...result.artifacts };
            return result.outputs;
        });

        // Registration is asynchronous: wait until every RPC to the (mock) engine is done, the stack's
        // own outputs included, so nothing is still in flight when a caller exits.
        await waitForRPCs();
        for (const [file, output] of Object.entries(artifactOutputs)) {
            const value: string | Readonly<Record<string, string>> = await valueOf<string | Readonly<Record<string, string>>>(output);
            if (typeof value === "string") artifacts[file] = value;
            else for (const [inner, content] of Object.entries(value)) artifacts[`${file}/${inner}`] = content;
        }
        return stackOutputs;
    });
    const sortedArtifacts = Object.fromEntries(Object.entries(artifacts).sort(([a], [b]) => a.localeCompare(b)));
    const artifactOf = new Map(Object.entries(sortedArtifacts).map(([file, content]) => [content, file]));
    const entries = resources
        .filter((r) => r.type !== "pulumi:pulumi:Stack")
        .map((r) => {
            const registration = registrations.get(`${r.type}::${r.name}`);
            if (!registration) throw new Error(`no registration recorded for ${r.type}::${r.name}`);
            return {
                type: r.type,
                name: r.name,
                parent: registration.parent,
                inputs: maskSecrets(registration.inputs),
                inputDependencies: registration.dependencies,
                inputArtifacts: Object.fromEntries(
                    Object.entries(registration.inputs).flatMap(([input, value]) => {
                        const file = isSecretValue(value) && typeof value.value === "string" ? artifactOf.get(value.value) : undefined;
                        return file ? [[input, file]] : [];
                    }),
                ),
            };
        })
        .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
    return {
        ok: true,
        stack,
        source,
        settings: parsed.settings,
        entries,
        resources,
        registrations,
        invokes,
        options: recordedOptions,
        artifacts: sortedArtifacts,
        outputs: revealSecrets(outputs) as Record<string, unknown>,
    };
}
