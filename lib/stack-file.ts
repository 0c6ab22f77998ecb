// Reads Pulumi's YAML files the way the Pulumi CLI does, for the offline plan: a stack file's
// config keys are `<namespace>:<key>` (or the legacy `<namespace>:config:<key>`); its values reach
// the program as strings: YAML null as "", other scalars as their JSON text, lists and maps as
// JSON, and `{secure: <ciphertext>}` as an encrypted value. What the CLI would refuse the file for
// comes back as one line per problem, `<file>:<line>:<column>: <what is wrong>`.
import * as YAML from "yaml";
import { PROJECT } from "../config/keys";
import { configString } from "../config/raw";

/** One config entry of a stack file. */
export interface StackFileEntry {
    readonly namespace: string;
    readonly key: string;
    /** The string the CLI passes the program; "" when encrypted (the offline plan cannot decrypt). */
    readonly value: string;
    /** Stored as `secure:` (or a list or map holding one): the CLI decrypts it and marks it secret. */
    readonly encrypted: boolean;
}

export type YamlRead<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly string[] };

const show = (value: unknown): string => JSON.stringify(value);

/** Where `fileName`'s problems are reported; `note` ends every line, e.g. " (pr-7 reads staging's file)". */
class Locator {
    readonly lines = new YAML.LineCounter();
    constructor(
        private readonly fileName: string,
        private readonly note: string,
    ) {}

    problem(offset: number, message: string): string {
        const { line, col } = this.lines.linePos(offset);
        return `${this.fileName}:${line}:${col}: ${message}${this.note}`;
    }
}

/** Where the parser's error is and what it says, without its code frame, with a hint for the mistakes people make most. */
function describe(error: YAML.YAMLError, text: string): { offset: number; message: string } {
    const offset = error.pos[0];
    const message = error.message.charAt(0).toLowerCase() + error.message.slice(1);
    if (error.code === "DUPLICATE_KEY") {
        const key = text.slice(offset).split(/\r?\n/)[0].split(/:(?:\s|$)/)[0];
        return { offset, message: `${key} is set twice; keep one` };
    }
    const quote = error.code === "MISSING_CHAR" ? /closing (["'])quote/.exec(error.message)?.[1] : undefined;
    // The parser stops where the file ends; the mistake is where the quote opened.
    if (quote !== undefined) return { offset: Math.max(0, text.lastIndexOf(quote, offset - 1)), message: `the ${quote} opened here is never closed` };
    if (error.code === "BLOCK_AS_IMPLICIT_KEY") return { offset, message: `${message}; quote a value that contains ': ', and indent the keys under config: alike` };
    return { offset, message };
}

/** Parses YAML text, or returns its first syntax error (later ones mostly follow from it). */
function parseYaml(text: string, where: Locator): YamlRead<YAML.Document.Parsed> {
    const doc = YAML.parseDocument(text, { prettyErrors: false, lineCounter: where.lines });
    if (doc.errors.length === 0) return { ok: true, value: doc };
    const { offset, message } = describe(doc.errors[0], text);
    return { ok: false, errors: [where.problem(offset, message)] };
}

/** The `config:` mapping of a parsed file, absent (empty file, bare `config:`), or a problem. */
function configMap(doc: YAML.Document.Parsed, where: Locator): YamlRead<YAML.YAMLMap | undefined> {
    const contents = doc.contents;
    if (contents === null || (YAML.isScalar(contents) && contents.value === null)) return { ok: true, value: undefined };
    if (!YAML.isMap(contents)) return { ok: false, errors: [where.problem(contents.range[0], "expected a mapping with a config: section")] };
    const config = contents.get("config", true);
    if (config === undefined || (YAML.isScalar(config) && config.value === null)) return { ok: true, value: undefined };
    if (!YAML.isMap(config)) {
        return { ok: false, errors: [where.problem(YAML.isNode(config) ? (config.range?.[0] ?? 0) : 0, "config: must map <namespace>:<key> to values")] };
    }
    return { ok: true, value: config };
}

/** Pulumi's config.ParseKey: `<namespace>:<key>`, or the legacy `<namespace>:config:<key>`. */
function parseKey(fullKey: string): { namespace: string; key: string } | undefined {
    const parts = fullKey.split(":");
    if (parts.length === 2) return { namespace: parts[0], key: parts[1] };
    if (parts.length === 3 && parts[1] === "config") return { namespace: parts[0], key: parts[2] };
    return undefined;
}

function isSecure(value: unknown): boolean {
    return value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as Record<string, unknown>).secure === "string";
}

function holdsSecure(value: unknown): boolean {
    if (isSecure(value)) return true;
    return value !== null && typeof value === "object" && Object.values(value).some(holdsSecure);
}

/** A YAML value as the CLI hands it to the program. */
function cliValue(value: unknown): { value: string; encrypted: boolean } {
    // YAML null: "", as CLIs that decode config into a Go string pass it (go-yaml leaves the
    // string empty); config/raw.ts isBlank also covers the CLIs that pass the text "null".
    if (value === null || value === undefined) return { value: "", encrypted: false };
    if (holdsSecure(value)) return { value: "", encrypted: true };
    return { value: configString(value), encrypted: false };
}

/** The config entries of a stack file's text; `fileName` and `note` label its problems. */
export function readStackFile(text: string, fileName: string, note = ""): YamlRead<StackFileEntry[]> {
    const where = new Locator(fileName, note);
    const parsed = parseYaml(text, where);
    if (!parsed.ok) return parsed;
    const config = configMap(parsed.value, where);
    if (!config.ok || config.value === undefined) return config.ok ? { ok: true, value: [] } : config;
    const entries: StackFileEntry[] = [];
    const errors: string[] = [];
    for (const pair of config.value.items) {
        const keyNode = pair.key;
        const fullKey = YAML.isScalar(keyNode) ? String(keyNode.value) : undefined;
        const parsedKey = fullKey === undefined ? undefined : parseKey(fullKey);
        if (parsedKey === undefined) {
            const offset = YAML.isNode(keyNode) ? (keyNode.range?.[0] ?? 0) : 0;
            const fix = fullKey !== undefined && !fullKey.includes(":") ? `; write ${PROJECT}:${fullKey}` : "";
            errors.push(where.problem(offset, `config key ${show(fullKey ?? null)} is not <namespace>:<key>, which Pulumi requires${fix}`));
            continue;
        }
        const value = YAML.isNode(pair.value) ? pair.value.toJS(parsed.value) : null;
        entries.push({ ...parsedKey, ...cliValue(value) });
    }
    return errors.length > 0 ? { ok: false, errors } : { ok: true, value: entries };
}

/** Pulumi.yaml's `config:` defaults, by key (the project's own keys carry no namespace there). */
export function readProjectDefaults(text: string, fileName: string): YamlRead<Record<string, string>> {
    const where = new Locator(fileName, "");
    const parsed = parseYaml(text, where);
    if (!parsed.ok) return parsed;
    const config = configMap(parsed.value, where);
    if (!config.ok) return config;
    const declarations = (config.value?.toJS(parsed.value) ?? {}) as Record<string, { default?: unknown } | null>;
    const defaults: Record<string, string> = {};
    for (const [key, declaration] of Object.entries(declarations)) {
        if (declaration?.default !== undefined) defaults[key] = configString(declaration.default);
    }
    return { ok: true, value: defaults };
}
