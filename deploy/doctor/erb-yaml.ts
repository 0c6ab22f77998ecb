// Rails' YAML files with ERB, read with the `yaml` library: ERB tags are blanked in place so lines
// and offsets stay the file's, and merge keys (`<<: *default`) are followed as Rails follows them.
import * as YAML from "yaml";
import { Report } from "./report";

export interface LoadedYaml {
    readonly doc: YAML.Document.Parsed;
    readonly lines: YAML.LineCounter;
    /** The file as written, ERB included: node ranges index into it too. */
    readonly source: string;
}

export type AnyPair = YAML.Pair<unknown, unknown>;
export type AnyMap = YAML.YAMLMap<unknown, unknown>;

/** ERB tags blanked in place (same length, newlines kept), so offsets and lines stay the file's. */
function blankErb(text: string): string {
    // An output tag stands for a value: a scalar over the whole tag keeps `pool: <%= ... %>` a pair
    // and lets sourceOf show the tag; other tags output nothing.
    return text.replace(/<%(?!%)[\s\S]*?%>/g, (tag) => tag.replace(/[^\n]/g, tag.startsWith("<%=") ? "_" : " "));
}

export function loadYaml(file: string, text: string, report: Report): LoadedYaml | undefined {
    const lines = new YAML.LineCounter();
    // uniqueKeys off: both branches of an ERB `<% if %>` may define the same key; each is checked.
    const doc = YAML.parseDocument(blankErb(text), { merge: true, uniqueKeys: false, prettyErrors: false, lineCounter: lines });
    for (const error of doc.errors) {
        report.add(file, lines.linePos(error.pos[0]).line, `is not valid YAML (ERB tags aside): ${error.message}; fix the syntax`);
    }
    return doc.errors.length > 0 ? undefined : { doc, lines, source: text };
}

export function lineOf(yaml: LoadedYaml, node: unknown): number | undefined {
    return YAML.isNode(node) && node.range ? yaml.lines.linePos(node.range[0]).line : undefined;
}

/** A node's text as written in the file (ERB included), whitespace collapsed. */
export function sourceOf(yaml: LoadedYaml, node: unknown): string {
    return YAML.isNode(node) && node.range ? yaml.source.slice(node.range[0], node.range[1]).replace(/\s+/g, " ").trim() : "";
}

const isMergeKey = (key: unknown): boolean => YAML.isScalar(key) && typeof key.value === "symbol" && key.value.description === "<<";

export function asMap(yaml: LoadedYaml, node: unknown): AnyMap | undefined {
    const resolved = YAML.isAlias(node) ? node.resolve(yaml.doc) : node;
    return YAML.isMap(resolved) ? resolved : undefined;
}

/** The maps `map` merges (`<<: *default`, `<<: [*a, *b]`), first source first. */
function mergedMaps(yaml: LoadedYaml, map: AnyMap): AnyMap[] {
    return map.items.flatMap((pair) => {
        if (!isMergeKey(pair.key)) return [];
        const value = YAML.isAlias(pair.value) ? pair.value.resolve(yaml.doc) : pair.value;
        const sources = YAML.isSeq(value) ? value.items : [value];
        return sources.flatMap((source) => asMap(yaml, source) ?? []);
    });
}

/** The pairs that give `key` in `map`: its own, else the first merged source's; `seen` stops alias loops. */
export function pairsOf(yaml: LoadedYaml, map: AnyMap, key: string, seen = new Set<AnyMap>([map])): AnyPair[] {
    const own = map.items.filter((pair) => YAML.isScalar(pair.key) && pair.key.value === key);
    if (own.length > 0) return own;
    for (const source of mergedMaps(yaml, map)) {
        if (seen.has(source)) continue;
        seen.add(source);
        const found = pairsOf(yaml, source, key, seen);
        if (found.length > 0) return found;
    }
    return [];
}

/** Every pair `map` has, its own and merged ones. */
export function allPairs(yaml: LoadedYaml, map: AnyMap, seen = new Set<AnyMap>([map])): AnyPair[] {
    const merged = mergedMaps(yaml, map).flatMap((source) => {
        if (seen.has(source)) return [];
        seen.add(source);
        return allPairs(yaml, source, seen);
    });
    return [...map.items.filter((pair) => !isMergeKey(pair.key)), ...merged];
}

export const keyName = (pair: AnyPair): string => (YAML.isScalar(pair.key) ? String(pair.key.value) : "");
