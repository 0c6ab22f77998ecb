// Evaluates the whole program under Pulumi's mocks with a stack's config file: the offline plan.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../config/keys";
import { loadConfig } from "../config/load";
import { parseConfig } from "../config/parse";
import type { Settings } from "../config/settings";
import type { RawConfig } from "../config/raw";
import { CommitReader, readCheckoutCommit } from "../lib/app-checkout";
import { createStack, StackResult } from "../program";
import { EngineRegistration, failingOnProgramError, recordRegistrations, waitForRPCs } from "./engine";
import { recordingMocks, RecordedInvoke, RecordedResource } from "./mocks";
import type { StackConfigSource } from "./stack-config";

export { getMonitor, waitForRPCs } from "./engine";
export type { EngineRegistration } from "./engine";
export { readStackConfig, stackConfigFromFiles } from "./stack-config";
export type { StackConfigRead, StackConfigSource } from "./stack-config";
export { stableJson } from "./write";

/** Marker Pulumi puts on secret values it hands to mocks. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_MASK = "[secret]";

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
