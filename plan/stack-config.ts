// A stack's config as `pulumi` would hand it to the program (Pulumi.yaml's defaults, the stack file,
// one-off values), read without the Pulumi SDK: the offline plan, npm run capacity and the doctor.
import * as fs from "fs";
import * as path from "path";
import { KEY_NAMES, KEYS, KeyName, KeySpec, PROJECT } from "../config/keys";
import { stackKind } from "../config/parse";
import { credentialKeysOf } from "../config/parse-storage";
import { configString, ForeignValue, isUnset, RawConfig } from "../config/raw";
import { readStackFile } from "../lib/stack-file";

export interface StackConfigSource extends RawConfig {
    /** The stack file the values came from. */
    readonly file: string;
    readonly otherNamespaces: Readonly<Record<string, ForeignValue>>;
    /** Keys whose values are placeholders (encrypted, or declared secrets the file lacks). */
    readonly placeholders: readonly string[];
}

/** How every CLI reports a config the parser refused: the stack and its file, then one indented line per problem. */
export const invalidConfigReport = (stack: string, file: string, errors: readonly string[]): string =>
    `invalid stack config for ${stack} (${file}):\n${errors.map((e) => `  ${e}`).join("\n")}`;

/** A stack's config, or one line per problem that stops the CLI before the program runs. */
export type StackConfigRead = { readonly ok: true; readonly source: StackConfigSource } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Pulumi.yaml's defaults, as the CLI passes them (strings), taken from config/keys.ts: the file is
 * generated from it (`npm run docs`) and test/declarations.spec.ts fails when the two differ, so
 * the plan need not read or parse the file's 6 KB of YAML (which cost it about as much as the rest
 * of its config reading).
 */
export function declaredDefaults(): Record<string, string> {
    const defaults: Record<string, string> = {};
    for (const key of KEY_NAMES) {
        const fallback = (KEYS[key] as KeySpec).default;
        if (fallback !== undefined) defaults[key] = configString(fallback);
    }
    return defaults;
}

/**
 * Config as `pulumi` would pass it for the stack: Pulumi.yaml's defaults, then Pulumi.<stack>.yaml
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

    const entries = readStackFile(fs.readFileSync(filePath, "utf8"), file, note);
    if (!entries.ok) return entries;

    const values: Record<string, string> = declaredDefaults();
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
