// The config as Pulumi hands it to the program, and what counts as unset or blank in it.
import { KEYS, KeyName, KeySpec } from "./keys";

/** A key outside the project's namespace, as the stack sets it. */
export interface ForeignValue {
    readonly value: string;
    /** Stored encrypted. */
    readonly secret: boolean;
}

/** What Pulumi hands the program: every key's raw string (arrays as JSON) and which are secret. */
export interface RawConfig {
    /** The project's keys, namespace stripped. */
    readonly values: Readonly<Record<string, string>>;
    /** Which of `values` the stack stores encrypted. */
    readonly secretKeys: ReadonlySet<string>;
    /** Keys of every other namespace, by full key (`hcloud:endpoint`): only Pulumi's and the providers' are allowed. */
    readonly otherNamespaces?: Readonly<Record<string, ForeignValue>>;
    /**
     * Keys whose value is a stand-in the user never wrote (the offline plan cannot decrypt a
     * stack file's `secure:` values): only how they are stored is checked, never their value.
     */
    readonly placeholders?: readonly string[];
}

/** A YAML value as the CLI passes it: strings as they are, anything else as JSON. */
export const configString = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

/**
 * A value with nothing in it. `rails-stack:app:` with nothing after it is YAML null, which Pulumi
 * CLIs pass on in two ways: releases whose config Value decodes YAML into a Go string pass ""
 * (go-yaml leaves a string empty on null); releases that decode into a typed object pass the JSON
 * text "null". Both are blank here, so the offline plan (which reads null as "") and `pulumi up`
 * agree whichever CLI runs; no key of this program takes the word "null" as a value.
 */
export function isBlank(value: string): boolean {
    return value.trim() === "" || value === "null";
}

/** Whether the key's Pulumi.yaml default is a sentinel meaning "unset" ("", "auto", []). */
export function defaultMeansUnset(key: KeyName): boolean {
    const fallback = (KEYS[key] as KeySpec).default;
    return fallback === "" || fallback === "auto" || (Array.isArray(fallback) && fallback.length === 0);
}

/** Whether `value` leaves the key unset: its sentinel default, or blank where the default is a sentinel. */
export function isUnset(key: KeyName, value: string | undefined): boolean {
    if (value === undefined) return true;
    return defaultMeansUnset(key) && (value === configString((KEYS[key] as KeySpec).default) || isBlank(value));
}

/** The raw value, or undefined when missing or unset. */
export function rawValue(raw: RawConfig, key: KeyName): string | undefined {
    const value = raw.values[key];
    return isUnset(key, value) ? undefined : value;
}
