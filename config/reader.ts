// Typed reads of the raw config for the parsers (config/parse.ts, config/parse-storage.ts): each
// records its own type problem, naming the key and what is allowed.
import { KEYS, KeyName } from "./keys";
import { Problems } from "./problems";
import { RawConfig, rawValue } from "./raw";

/** DNS's limit on one label, and R2's on a bucket name. */
export const MAX_LABEL = 63;

export const show = (value: unknown): string => JSON.stringify(value);
export const list = (values: readonly string[]): string => values.join(", ");

/** Reads typed values out of the raw strings, recording type errors. */
export class Reader {
    constructor(
        private readonly raw: RawConfig,
        private readonly problems: Problems,
        /** Keys with a problem already recorded by checkKeys, or whose value is a stand-in: never read. */
        private readonly withheld: ReadonlySet<string>,
    ) {}

    /** The raw value; undefined when missing, unset (the key's sentinel default, or blank) or withheld. */
    string(key: KeyName): string | undefined {
        return this.withheld.has(key) ? undefined : rawValue(this.raw, key);
    }

    /** Whether the key is set, even to a withheld value. */
    has(key: KeyName): boolean {
        return rawValue(this.raw, key) !== undefined;
    }

    integer(key: KeyName, range: { min: number; max: number }): number | undefined {
        const value = this.string(key);
        if (value === undefined) return undefined;
        if (!/^-?\d+$/.test(value)) {
            this.problems.add(key, `${show(value)} is not a whole number; allowed: ${range.min} to ${range.max}`);
            return undefined;
        }
        const n = Number(value);
        if (n < range.min || n > range.max) {
            this.problems.add(key, `${n} is out of range; allowed: ${range.min} to ${range.max}`);
            return undefined;
        }
        return n;
    }

    boolean(key: KeyName): boolean | undefined {
        const value = this.string(key);
        if (value === undefined) return undefined;
        if (value !== "true" && value !== "false") {
            this.problems.add(key, `${show(value)} is not a boolean; allowed: true, false`);
            return undefined;
        }
        return value === "true";
    }

    stringArray(key: KeyName): string[] | undefined {
        const value = this.string(key);
        if (value === undefined) return undefined;
        let parsed: unknown;
        try {
            parsed = JSON.parse(value);
        } catch {
            parsed = undefined;
        }
        if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
            this.problems.add(key, `${show(value)} is not a list of strings; write it as a YAML list in the stack file`);
            return undefined;
        }
        return parsed;
    }

    /** A string key that reads "auto" (derived), "true" or "false". */
    autoBoolean(key: KeyName): boolean | undefined {
        const value = this.string(key);
        if (value === undefined) return undefined;
        if (value !== "true" && value !== "false") {
            this.problems.add(key, `${show(value)} is not allowed; allowed: auto, true, false`);
            return undefined;
        }
        return value === "true";
    }

    /** A value restricted to a fixed set. */
    oneOf<T extends string>(key: KeyName, allowed: readonly T[]): T | undefined {
        const value = this.string(key);
        if (value === undefined) return undefined;
        if (!(allowed as readonly string[]).includes(value)) {
            this.problems.add(key, `${show(value)} is not allowed; allowed: ${list(allowed)}`);
            return undefined;
        }
        return value as T;
    }
}

export function defaultOf<K extends KeyName>(key: K): (typeof KEYS)[K] extends { default: infer D } ? D : never {
    return (KEYS[key] as { default?: unknown }).default as never;
}

