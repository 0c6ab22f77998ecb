// Key-level checks of the raw config, before any value is read: which keys exist and in which
// namespace, how they are stored, and values that are wrong whatever the key means (blank, a
// private key, a list where one value belongs). A key with such a problem is withheld from the
// value checks, so each mistake gets one line.
import { KEYS, KEY_NAMES, KeyName, KeySpec, PROJECT, RETIRED_KEYS } from "./keys";
import { Problems } from "./problems";
import { defaultMeansUnset, isBlank, isUnset, RawConfig } from "./raw";
import { nearest } from "./suggest";

/** Namespaces a stack may set besides the project's: Pulumi's own and those of the providers this program uses. */
export const ACCEPTED_NAMESPACES = ["pulumi", "hcloud", "cloudflare", "tailscale", "command"] as const;

const RETIRED_KEY_NAMES = Object.keys(RETIRED_KEYS);

function looksLikePrivateKey(value: string): boolean {
    return value.includes("-----BEGIN") && value.includes("PRIVATE KEY-----");
}

// Never echoes the value. A plain-text value is in git once committed, so the key is burnt.
function privateKeyMessage(storedSecret: boolean): string {
    return storedSecret
        ? "looks like a private key; no setting takes one: remove it"
        : "looks like a private key; no setting takes one: remove it and rotate the key, since plain-text config stays in the stack file's history";
}

/** The JSON array or object a value encodes (the CLI passes YAML lists and maps as JSON), else undefined. */
function jsonContainer(value: string): object | undefined {
    if (!/^\s*[[{]/.test(value)) return undefined;
    try {
        const parsed: unknown = JSON.parse(value);
        return parsed !== null && typeof parsed === "object" ? parsed : undefined;
    } catch {
        return undefined;
    }
}

/** Where a private key sits: the list items that hold one, else the key itself; empty when there is none. */
function privateKeyPlaces(key: string, value: string): string[] {
    if (!looksLikePrivateKey(value)) return [];
    const items = jsonContainer(value);
    const inItems = Array.isArray(items)
        ? items.flatMap((item: unknown, i) => (typeof item === "string" && looksLikePrivateKey(item) ? [`${key}[${i}]`] : []))
        : [];
    return inItems.length > 0 ? inItems : [key];
}

/** A problem of the value's shape that makes its content meaningless to check, or undefined. */
function shapeProblem(key: KeyName, value: string): string | undefined {
    const spec: KeySpec = KEYS[key];
    if (isBlank(value)) {
        if (defaultMeansUnset(key)) return undefined;
        if (!spec.required) return `is blank; set a value, or remove the key for its default ${JSON.stringify(spec.default)}`;
        return spec.secret
            ? `is blank, but it is required; set it with: pulumi config set --secret ${key} <value>`
            : `is blank, but it is required; ${spec.description}`;
    }
    const container = spec.type === "array" ? undefined : jsonContainer(value);
    if (container !== undefined) return `expected a single value, got ${Array.isArray(container) ? "a list" : "a mapping"}; ${spec.description}`;
    return undefined;
}

function unknownKeyMessage(key: string): string {
    const near = nearest(key, [...KEY_NAMES, ...RETIRED_KEY_NAMES]);
    if (near === undefined) return "unknown key; see the config reference in README.md";
    // A retired key is never suggested as such: the user learns why it went instead.
    if (near in RETIRED_KEYS) return `unknown key; its nearest match, ${near}, ${RETIRED_KEYS[near]}`;
    return `unknown key; did you mean ${near}?`;
}

function unknownNamespaceMessage(namespace: string, key: string): string {
    const problem = `unknown namespace ${JSON.stringify(namespace)}`;
    const near = nearest(namespace, [PROJECT, ...ACCEPTED_NAMESPACES]);
    if (near === PROJECT) return `${problem}; did you mean ${PROJECT}:${key in KEYS ? key : (nearest(key, KEY_NAMES) ?? key)}?`;
    if (near !== undefined) return `${problem}; did you mean ${near}:${key}?`;
    const accepted = ACCEPTED_NAMESPACES.map((n) => `${n}:`).join(", ");
    return `${problem}; this program reads ${PROJECT}: keys and accepts ${accepted}; remove it`;
}

function checkOtherNamespaces(raw: RawConfig, problems: Problems): void {
    const other = raw.otherNamespaces ?? {};
    for (const fullKey of Object.keys(other).sort()) {
        if (looksLikePrivateKey(other[fullKey].value)) {
            problems.addFull(fullKey, privateKeyMessage(other[fullKey].secret));
            continue;
        }
        const colon = fullKey.indexOf(":");
        const namespace = colon < 0 ? "" : fullKey.slice(0, colon);
        if (!(ACCEPTED_NAMESPACES as readonly string[]).includes(namespace)) {
            problems.addFull(fullKey, unknownNamespaceMessage(namespace, fullKey.slice(colon + 1)));
        }
    }
}

/** Records every key-level problem; returns the keys whose values the value checks must skip. */
export function checkKeys(raw: RawConfig, problems: Problems): ReadonlySet<string> {
    const withheld = new Set<string>(raw.placeholders ?? []);
    checkOtherNamespaces(raw, problems);
    for (const key of Object.keys(raw.values).sort()) {
        const value = raw.values[key];
        const storedSecret = raw.secretKeys.has(key);
        const privateKeys = withheld.has(key) ? [] : privateKeyPlaces(key, value);
        if (privateKeys.length > 0) {
            privateKeys.forEach((place) => problems.add(place, privateKeyMessage(storedSecret)));
            withheld.add(key);
            continue;
        }
        if (key in RETIRED_KEYS) {
            problems.add(key, RETIRED_KEYS[key]);
            continue;
        }
        if (!(key in KEYS)) {
            problems.add(key, unknownKeyMessage(key));
            continue;
        }
        const name = key as KeyName;
        const spec: KeySpec = KEYS[name];
        if (!withheld.has(key)) {
            const problem = shapeProblem(name, value);
            if (problem !== undefined) {
                problems.add(key, problem);
                withheld.add(key);
                continue;
            }
            if (isUnset(name, value)) continue;
        }
        if (spec.secret && !storedSecret) {
            problems.add(key, `is stored in plain text; set it with: pulumi config set --secret ${key} <value>`);
        } else if (!spec.secret && storedSecret) {
            problems.add(key, `is stored as a secret but is not one (it appears in names, URLs or rendered files); set it without --secret`);
        }
    }
    for (const key of KEY_NAMES) {
        const spec: KeySpec = KEYS[key];
        if (spec.required && raw.values[key] === undefined) {
            const target = spec.type === "array" ? `--path '${key}[0]'` : key;
            problems.add(key, `is required and missing; set it with: pulumi config set ${spec.secret ? "--secret " : ""}${target} <value>`);
        }
    }
    return withheld;
}
