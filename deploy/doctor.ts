// Pre-flight check of a Rails app's checkout against what the stack deploys: the environment file,
// the databases Litestream replicates, the image's RAILS_ENV and server command, the entrypoint's
// db:prepare and the Active Storage service. Pure: files arrive through AppFiles. Every problem is
// collected, none thrown, so a user sees all of them at once; each says what to do.
import * as path from "path";
import * as YAML from "yaml";
import { DATABASE_NAMES, DatabaseName } from "../config/settings";
import { STORAGE_CONTAINER_PATH } from "../lib/paths";
import { databaseFiles } from "../renderers/litestream";

/** The app's files by path relative to its root; undefined when the file is missing. */
export interface AppFiles {
    read(relativePath: string): string | undefined;
}

/** What the stack deploys, which the app has to agree with. */
export interface DoctorExpectations {
    /** RAILS_ENV that Kamal sets at run time. */
    readonly railsEnv: string;
    /** The litestream.yml the stack ships (renderers/litestream.ts). */
    readonly litestreamYaml: string;
    /** The config/storage.yml service that keeps attachments (ACTIVE_STORAGE_SERVICE). */
    readonly activeStorageService: string;
}

/** One problem: the file, the 1-based line when there is one, and what is wrong and what to do. */
export interface DoctorProblem {
    readonly file: string;
    readonly line?: number;
    readonly message: string;
}

/** The command Rails 8's image runs: Thruster on port 80 in front of Puma. */
const SERVER_COMMAND: readonly string[] = ["./bin/thrust", "./bin/rails", "server"];
/** Its Dockerfile line, spelled as Rails writes it. */
const SERVER_CMD = `CMD [${SERVER_COMMAND.map((w) => JSON.stringify(w)).join(", ")}]`;

const FILES = {
    dockerfile: "Dockerfile",
    entrypoint: "bin/docker-entrypoint",
    database: "config/database.yml",
    storage: "config/storage.yml",
    environment: (railsEnv: string): string => `config/environments/${railsEnv}.rb`,
} as const;

/** Rails.root in the image (WORKDIR /rails): database.yml's relative paths start here. */
const APP_ROOT = path.posix.dirname(STORAGE_CONTAINER_PATH);

/** Who connects to each Rails 8 database. */
const DATABASE_USERS: Readonly<Record<DatabaseName, string>> = {
    primary: "the app's models use",
    queue: "Solid Queue connects to",
    cache: "Solid Cache connects to",
    cable: "Solid Cable connects to",
};

const RAILS_8_CONDITION = `if [ "\${@: -2:1}" == "./bin/rails" ] && [ "\${@: -1:1}" == "server" ]`;

class Report {
    readonly problems: DoctorProblem[] = [];
    add(file: string, line: number | undefined, message: string): void {
        this.problems.push(line === undefined ? { file, message } : { file, line, message });
    }
}

/** Checks the app's checkout; problems sorted by file, then line. */
export function checkApp(app: AppFiles, expect: DoctorExpectations): DoctorProblem[] {
    const report = new Report();
    checkEnvironmentFile(app, expect.railsEnv, report);
    checkDatabases(app, expect, report);
    const server = checkDockerfile(app, expect.railsEnv, report);
    checkEntrypoint(app, server, report);
    checkStorage(app, expect.activeStorageService, report);
    // Code-point order: the same on every machine, whatever its locale.
    const byFile = (a: DoctorProblem, b: DoctorProblem): number => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
    return report.problems.sort((a, b) => byFile(a, b) || (a.line ?? 0) - (b.line ?? 0));
}

/** "file:line: message", or "file: message" when the problem has no line. */
export function formatProblem(p: DoctorProblem): string {
    return `${p.file}${p.line === undefined ? "" : `:${p.line}`}: ${p.message}`;
}

// --- config/environments/<env>.rb ----------------------------------------------------------------

function checkEnvironmentFile(app: AppFiles, railsEnv: string, report: Report): void {
    const file = FILES.environment(railsEnv);
    if (app.read(file) !== undefined) return;
    const hint = railsEnv === "production" ? "" : `, e.g. one line require_relative "production" to run ${railsEnv} like production`;
    report.add(file, undefined, `missing; Rails cannot boot RAILS_ENV=${railsEnv} without it: add it${hint}`);
}

// --- YAML with ERB ---------------------------------------------------------------------------------

interface LoadedYaml {
    readonly doc: YAML.Document.Parsed;
    readonly lines: YAML.LineCounter;
    /** The file as written, ERB included: node ranges index into it too. */
    readonly source: string;
}

type AnyPair = YAML.Pair<unknown, unknown>;
type AnyMap = YAML.YAMLMap<unknown, unknown>;

/** ERB tags blanked in place (same length, newlines kept), so offsets and lines stay the file's. */
function blankErb(text: string): string {
    // An output tag stands for a value: a scalar over the whole tag keeps `pool: <%= ... %>` a pair
    // and lets sourceOf show the tag; other tags output nothing.
    return text.replace(/<%(?!%)[\s\S]*?%>/g, (tag) => tag.replace(/[^\n]/g, tag.startsWith("<%=") ? "_" : " "));
}

function loadYaml(file: string, text: string, report: Report): LoadedYaml | undefined {
    const lines = new YAML.LineCounter();
    // uniqueKeys off: both branches of an ERB `<% if %>` may define the same key; each is checked.
    const doc = YAML.parseDocument(blankErb(text), { merge: true, uniqueKeys: false, prettyErrors: false, lineCounter: lines });
    for (const error of doc.errors) {
        report.add(file, lines.linePos(error.pos[0]).line, `is not valid YAML (ERB tags aside): ${error.message}; fix the syntax`);
    }
    return doc.errors.length > 0 ? undefined : { doc, lines, source: text };
}

function lineOf(yaml: LoadedYaml, node: unknown): number | undefined {
    return YAML.isNode(node) && node.range ? yaml.lines.linePos(node.range[0]).line : undefined;
}

/** A node's text as written in the file (ERB included), whitespace collapsed. */
function sourceOf(yaml: LoadedYaml, node: unknown): string {
    return YAML.isNode(node) && node.range ? yaml.source.slice(node.range[0], node.range[1]).replace(/\s+/g, " ").trim() : "";
}

const isMergeKey = (key: unknown): boolean => YAML.isScalar(key) && typeof key.value === "symbol" && key.value.description === "<<";

function asMap(yaml: LoadedYaml, node: unknown): AnyMap | undefined {
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
function pairsOf(yaml: LoadedYaml, map: AnyMap, key: string, seen = new Set<AnyMap>([map])): AnyPair[] {
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
function allPairs(yaml: LoadedYaml, map: AnyMap, seen = new Set<AnyMap>([map])): AnyPair[] {
    const merged = mergedMaps(yaml, map).flatMap((source) => {
        if (seen.has(source)) return [];
        seen.add(source);
        return allPairs(yaml, source, seen);
    });
    return [...map.items.filter((pair) => !isMergeKey(pair.key)), ...merged];
}

const keyName = (pair: AnyPair): string => (YAML.isScalar(pair.key) ? String(pair.key.value) : "");

// --- config/database.yml -----------------------------------------------------------------------------

/** Litestream's path per database, undefined for one it does not replicate. */
function litestreamPaths(litestreamYaml: string, railsEnv: string): Record<DatabaseName, string | undefined> {
    const config = YAML.parse(litestreamYaml) as { dbs?: { path?: unknown }[] } | null;
    const paths = (config?.dbs ?? []).flatMap((db) => (typeof db.path === "string" ? [db.path] : []));
    const files = databaseFiles(railsEnv);
    const byName = {} as Record<DatabaseName, string | undefined>;
    for (const db of DATABASE_NAMES) byName[db] = paths.find((p) => path.posix.basename(p) === files[db]);
    return byName;
}

function checkDatabases(app: AppFiles, expect: DoctorExpectations, report: Report): void {
    const file = FILES.database;
    const env = expect.railsEnv;
    const replicated = litestreamPaths(expect.litestreamYaml, env);
    const files = databaseFiles(env);
    // What to write in database: (relative to Rails.root): Litestream's file, else Rails 8's name.
    const wanted = {} as Record<DatabaseName, string>;
    for (const db of DATABASE_NAMES) wanted[db] = path.posix.relative(APP_ROOT, replicated[db] ?? `${STORAGE_CONTAINER_PATH}/${files[db]}`);
    const layout = DATABASE_NAMES.map((db) => `${db}: database: ${wanted[db]}`).join(", ");

    const text = app.read(file);
    if (text === undefined) {
        report.add(file, undefined, `missing; Rails reads the SQLite databases' paths from it: add it with a ${env}: block (${layout})`);
        return;
    }
    const yaml = loadYaml(file, text, report);
    if (!yaml) return;
    const root = asMap(yaml, yaml.doc.contents);
    const blocks = root ? pairsOf(yaml, root, env) : [];
    if (blocks.length === 0) {
        report.add(file, undefined, `has no ${env}: block, so Rails cannot connect in RAILS_ENV=${env}: add one (${layout})`);
    }
    for (const block of blocks) {
        const blockLine = lineOf(yaml, block.key);
        const envMap = asMap(yaml, block.value);
        if (!envMap) {
            report.add(file, blockLine, `${env}: is not a map of databases: give it ${layout}`);
            continue;
        }
        const names = allPairs(yaml, envMap).map(keyName);
        for (const db of DATABASE_NAMES) {
            const entries = pairsOf(yaml, envMap, db);
            if (entries.length > 0) {
                for (const entry of entries) checkDatabaseEntry(yaml, `${env}.${db}`, entry, wanted[db], replicated[db], report);
                continue;
            }
            // Solid Queue/Cache/Cable look the database up by this exact name.
            const near = names.find((name) => name !== db && name.includes(db));
            const instead = near ? `; ${near}: is there instead: rename it to ${db}: (and ${near} in any connects_to)` : `: add ${db}:`;
            report.add(file, blockLine, `${env} has no ${db}: database, which ${DATABASE_USERS[db]}${instead} with database: ${wanted[db]}`);
        }
    }
}

function checkDatabaseEntry(yaml: LoadedYaml, name: string, entry: AnyPair, wanted: string, replicated: string | undefined, report: Report): void {
    const file = FILES.database;
    const map = asMap(yaml, entry.value);
    if (!map) {
        report.add(file, lineOf(yaml, entry.key), `${name} is not a map of settings: give it database: ${wanted}`);
        return;
    }
    // A URL wins over database:, so the file Litestream replicates would not be the one in use.
    for (const pair of allPairs(yaml, map)) {
        const value = sourceOf(yaml, pair.value);
        if (keyName(pair) === "url") {
            report.add(file, lineOf(yaml, pair.key), `${name} sets url: ${value}, which overrides database:; remove it and keep database: ${wanted}`);
        } else if (value.includes("DATABASE_URL")) {
            report.add(
                file,
                lineOf(yaml, pair.key),
                `${name} reads DATABASE_URL (${keyName(pair)}: ${value}); a DATABASE_URL overrides the primary database and one URL cannot name four: remove it and keep database: ${wanted}`,
            );
        }
    }
    const paths = pairsOf(yaml, map, "database");
    if (paths.length === 0) report.add(file, lineOf(yaml, entry.key), `${name} has no database: path; add database: ${wanted}`);
    for (const pair of paths) {
        const line = lineOf(yaml, pair.key);
        const written = sourceOf(yaml, pair.value);
        const against = replicated ? `the file Litestream replicates, ${replicated}` : `the storage volume ${STORAGE_CONTAINER_PATH}`;
        if (written.includes("<%")) {
            report.add(file, line, `${name} database: ${written} is computed by ERB, so it cannot be checked against ${against}: write the path, database: ${wanted}`);
            continue;
        }
        if (!YAML.isScalar(pair.value) || pair.value.value === null || typeof pair.value.value === "object") {
            report.add(file, line, `${name} database: is not a file path; use database: ${wanted}`);
            continue;
        }
        const value = String(pair.value.value);
        const absolute = path.posix.resolve(APP_ROOT, value);
        const shown = absolute === value ? value : `${value} (${absolute} in the container)`;
        if (replicated && absolute !== replicated) {
            report.add(file, line, `${name} database: ${shown} is not ${against}: use database: ${wanted}`);
        } else if (!absolute.startsWith(`${STORAGE_CONTAINER_PATH}/`)) {
            report.add(file, line, `${name} database: ${shown} is outside ${against}, so it would be lost with the container: use database: ${wanted}`);
        }
    }
}

// --- Dockerfile ----------------------------------------------------------------------------------------

interface Part {
    readonly line: number;
    readonly text: string;
}

interface Instruction {
    readonly keyword: string;
    /** The argument text per physical line, continuation backslashes removed. */
    readonly parts: readonly Part[];
}

interface Stage {
    readonly name?: string;
    readonly base: string;
    readonly instructions: readonly Instruction[];
}

/** The command the container runs, as the entrypoint receives it in "$@". */
interface ServerCommand {
    readonly argv: readonly string[];
}

function dockerInstructions(text: string): Instruction[] {
    const lines = text.split(/\r?\n/);
    const instructions: Instruction[] = [];
    for (let i = 0; i < lines.length; i++) {
        if (/^\s*(#|$)/.test(lines[i])) continue;
        const parts: Part[] = [];
        for (;;) {
            const continued = /\\\s*$/.test(lines[i]);
            parts.push({ line: i + 1, text: lines[i].replace(/\\\s*$/, "") });
            if (!continued) break;
            // Docker drops comment and blank lines inside a continuation.
            do i++;
            while (i < lines.length && /^\s*(#|$)/.test(lines[i]));
            if (i >= lines.length) break;
        }
        const heredoc = /<<-?\s*["']?(\w+)["']?/.exec(parts.map((p) => p.text).join(" "));
        // A heredoc's body belongs to its instruction (`RUN <<EOF ... EOF`), not to the Dockerfile.
        if (heredoc) while (++i < lines.length && lines[i].trim() !== heredoc[1]) parts.push({ line: i + 1, text: lines[i] });
        const [, keyword, rest] = /^\s*(\S+)\s*([\s\S]*)$/.exec(parts[0].text) ?? ["", "", ""];
        instructions.push({ keyword: keyword.toUpperCase(), parts: [{ line: parts[0].line, text: rest }, ...parts.slice(1)] });
    }
    return instructions;
}

function dockerStages(instructions: readonly Instruction[]): Stage[] {
    const stages: { name?: string; base: string; instructions: Instruction[] }[] = [];
    for (const instruction of instructions) {
        if (instruction.keyword === "FROM") {
            const words = instruction.parts.map((p) => p.text).join(" ").split(/\s+/).filter((w) => w !== "" && !w.startsWith("--"));
            stages.push({ base: words[0] ?? "", name: words[1]?.toUpperCase() === "AS" ? words[2]?.toLowerCase() : undefined, instructions: [] });
        } else {
            stages[stages.length - 1]?.instructions.push(instruction);
        }
    }
    return stages;
}

/** The final stage and the stages it is built FROM, nearest first: what the image holds. */
function imageStages(stages: readonly Stage[]): Stage[] {
    const chain: Stage[] = [];
    for (let i = stages.length - 1; i >= 0; ) {
        const stage = stages[i];
        chain.push(stage);
        const base = stage.base.toLowerCase();
        do i--;
        while (i >= 0 && stages[i].name !== base);
    }
    return chain;
}

const argsText = (instruction: Instruction): string => instruction.parts.map((p) => p.text).join("\n");

/** Words of a shell-like text with their quotes removed (enough for ENV and CMD). */
function plainWords(text: string): { word: string; raw: string }[] {
    return (text.match(/(?:[^\s"'\\]|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+/g) ?? []).map((raw) => ({
        raw,
        word: raw.replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'|\\(.)/g, (_, dq: string | undefined, sq: string | undefined, esc: string | undefined) =>
            dq !== undefined ? dq.replace(/\\(.)/g, "$1") : (sq ?? esc ?? ""),
        ),
    }));
}

function checkDockerfile(app: AppFiles, railsEnv: string, report: Report): ServerCommand {
    const file = FILES.dockerfile;
    const assumed: ServerCommand = { argv: SERVER_COMMAND };
    const text = app.read(file);
    if (text === undefined) {
        report.add(file, undefined, `missing; Kamal builds the app's image from it: add Rails 8's generated Dockerfile (${SERVER_CMD})`);
        return assumed;
    }
    const instructions = dockerInstructions(text);
    checkDockerEnv(instructions, railsEnv, report);
    const image = imageStages(dockerStages(instructions));
    checkSqlite(image, report);
    return serverCommand(image, report) ?? assumed;
}

function checkDockerEnv(instructions: readonly Instruction[], railsEnv: string, report: Report): void {
    const advice =
        `one image serves every stack and Kamal sets RAILS_ENV=${railsEnv} at run time: remove it from ENV and set it inline on the build ` +
        "steps that need it, e.g. RUN RAILS_ENV=production SECRET_KEY_BASE_DUMMY=1 ./bin/rails assets:precompile";
    for (const instruction of instructions.filter((i) => i.keyword === "ENV")) {
        const words = instruction.parts.flatMap((part) => plainWords(part.text).map((w) => ({ ...w, line: part.line })));
        // Legacy `ENV KEY value`: one variable, the rest of the instruction is its value.
        if (words.length > 0 && !words[0].raw.includes("=")) {
            if (words[0].word === "RAILS_ENV") {
                const value = argsText(instruction).replace(/\s+/g, " ").trim();
                report.add(FILES.dockerfile, words[0].line, `ENV ${value} bakes one environment into the image, but ${advice}`);
            }
            continue;
        }
        for (const w of words.filter((w) => w.raw.startsWith("RAILS_ENV="))) {
            report.add(FILES.dockerfile, w.line, `ENV ${w.raw} bakes one environment into the image, but ${advice}`);
        }
    }
}

function checkSqlite(image: readonly Stage[], report: Report): void {
    const installs: { line: number; packages: string[] }[] = [];
    for (const instruction of image.flatMap((stage) => stage.instructions).filter((i) => i.keyword === "RUN")) {
        const text = argsText(instruction);
        for (const match of text.matchAll(/\bapt(?:-get)?\s+(?:-\S+\s+)*install\b([^;&|]*)/g)) {
            const newlines = text.slice(0, match.index ?? 0).split("\n").length - 1;
            installs.push({ line: instruction.parts[newlines].line, packages: match[1].split(/\s+/).filter((w) => w !== "" && !w.startsWith("-")) });
        }
    }
    if (installs.some((install) => install.packages.some((p) => p === "sqlite3" || p.startsWith("sqlite3=")))) return;
    const why = "the pre-deploy database backup runs sqlite3 from the app image";
    const last = installs.sort((a, b) => a.line - b.line).pop();
    if (last) {
        report.add(FILES.dockerfile, last.line, `the image installs no sqlite3 (this apt-get install has ${last.packages.join(" ") || "no packages"}); ${why}: add sqlite3 here`);
    } else {
        report.add(FILES.dockerfile, undefined, `the image installs no sqlite3; ${why}: add RUN apt-get update -qq && apt-get install --no-install-recommends -y sqlite3 to its base stage`);
    }
}

/** The image's CMD, checked for Thruster; undefined (and reported) when there is none. */
function serverCommand(image: readonly Stage[], report: Report): ServerCommand | undefined {
    const why = `kamal-proxy sends requests to port 80, where Thruster listens; Puma alone listens on 3000, so health checks would fail`;
    const cmd = image.flatMap((stage) => [...stage.instructions].reverse().filter((i) => i.keyword === "CMD"))[0];
    if (!cmd) {
        report.add(FILES.dockerfile, undefined, `the image has no CMD, so it would not start the app server; ${why}: end the final stage with ${SERVER_CMD}`);
        return undefined;
    }
    const written = argsText(cmd).replace(/\s+/g, " ").trim();
    const exec = execForm(written);
    // A shell-form CMD reaches the entrypoint as `/bin/sh -c "<command>"`.
    const argv = exec ?? ["/bin/sh", "-c", written];
    const words = exec ?? plainWords(written).map((w) => w.word);
    const thrust = words.findIndex((w) => /^(\.\/)?bin\/thrust$/.test(w));
    if (thrust < 0 || !/^(\.\/)?bin\/rails$/.test(words[thrust + 1] ?? "") || words[thrust + 2] !== "server") {
        report.add(FILES.dockerfile, cmd.parts[0].line, `CMD ${written} does not run the server through Thruster; ${why}: use ${SERVER_CMD}`);
    }
    return { argv };
}

function execForm(args: string): string[] | undefined {
    if (!args.startsWith("[")) return undefined;
    try {
        const parsed: unknown = JSON.parse(args);
        return Array.isArray(parsed) && parsed.every((w) => typeof w === "string") ? parsed : undefined;
    } catch {
        return undefined; // Docker runs an invalid JSON array as a shell command.
    }
}

// --- bin/docker-entrypoint -----------------------------------------------------------------------

interface Statement {
    readonly line: number;
    readonly text: string;
}

/** A test the shell must pass (want true) or fail (want false) for db:prepare to run. */
interface Requirement {
    readonly line: number;
    readonly condition: string;
    readonly want: boolean;
}

type Verdict = boolean | { readonly unknown: string };

const DB_PREPARE = /\b(?:rails|rake)\s+db:prepare(?![:\w])/;

/** Statements split at `;` and newlines outside quotes, comments dropped, continuations joined. */
function shellStatements(script: string): Statement[] {
    const statements: Statement[] = [];
    let text = "";
    let start = 1;
    let line = 1;
    let quote: string | undefined;
    const end = (): void => {
        if (text.trim() !== "") statements.push({ line: start, text: text.trim() });
        text = "";
    };
    for (let i = 0; i < script.length; i++) {
        const c = script[i];
        if (text.trim() === "") start = line;
        if (c === "\n") line++;
        if (quote) {
            if (c === "\\" && quote === '"') text += c + script[++i];
            else text += c;
            if (c === quote) quote = undefined;
        } else if (c === "\\" && script[i + 1] === "\n") {
            i++;
            line++;
        } else if (c === "\\") {
            text += c + (script[++i] ?? "");
        } else if (c === "#" && /(^|[\s;])$/.test(text)) {
            while (i + 1 < script.length && script[i + 1] !== "\n") i++;
        } else if (c === ";" || c === "\n") {
            end();
        } else {
            if (c === "'" || c === '"') quote = c;
            text += c;
        }
    }
    end();
    return statements;
}

interface Word {
    /** As written. */
    readonly raw: string;
    readonly pieces: readonly { readonly text: string; readonly kind: "plain" | "single" | "double" }[];
}

/** Shell words with their quoting kept, or undefined when a quote is not closed. */
function shellWords(text: string): Word[] | undefined {
    const words: Word[] = [];
    let i = 0;
    while (i < text.length) {
        if (/\s/.test(text[i])) {
            i++;
            continue;
        }
        const begin = i;
        const pieces: Word["pieces"][number][] = [];
        while (i < text.length && !/\s/.test(text[i])) {
            if (text[i] === "'" || text[i] === '"') {
                const quote = text[i];
                let j = i + 1;
                let piece = "";
                for (; j < text.length && text[j] !== quote; j++) {
                    if (quote === '"' && text[j] === "\\" && '"\\$`'.includes(text[j + 1])) j++;
                    piece += text[j];
                }
                if (j >= text.length) return undefined;
                pieces.push({ text: piece, kind: quote === "'" ? "single" : "double" });
                i = j + 1;
            } else if (text[i] === "\\") {
                pieces.push({ text: text[i + 1] ?? "", kind: "single" });
                i += 2;
            } else {
                let j = i;
                while (j < text.length && !/[\s'"\\]/.test(text[j])) {
                    // ${...} is one unit even with spaces inside (`${@: -1:1}`).
                    if (text.startsWith("${", j)) {
                        const close = text.indexOf("}", j);
                        if (close < 0) return undefined;
                        j = close + 1;
                    } else j++;
                }
                pieces.push({ text: text.slice(i, j), kind: "plain" });
                i = j;
            }
        }
        words.push({ raw: text.slice(begin, i), pieces });
    }
    return words;
}

/** The positional parameters an expansion names, and whether Bash joins them into one word. */
function positional(expression: string, argv: readonly string[]): { words: string[]; joined: boolean } | undefined {
    const single = /^\$(?:([1-9])|\{([1-9])\})$/.exec(expression);
    if (single) return { words: [argv[Number(single[1] ?? single[2]) - 1] ?? ""], joined: true };
    const all = /^\$(?:([@*])|\{([@*])\})$/.exec(expression);
    if (all) return { words: [...argv], joined: (all[1] ?? all[2]) === "*" };
    // `${@: -2:1}`: a negative offset needs its space, or Bash reads `:-` as a default value.
    const slice = /^\$\{([@*]):(?:\s+(-\d+)|\s*(\d+))(?::\s*(\d+))?\}$/.exec(expression);
    if (!slice) return undefined;
    const joined = slice[1] === "*";
    const offset = Number(slice[2] ?? slice[3]);
    // Parameter 0 is $0; a negative offset counts back from one past the last argument.
    const from = offset < 0 ? argv.length + 1 + offset : offset;
    if (from < 0) return { words: [], joined };
    const count = slice[4] === undefined ? argv.length : Number(slice[4]);
    // $0 is the entrypoint's own path, which the image decides: not evaluated.
    if (from === 0 && count > 0) return undefined;
    return { words: argv.slice(from - 1, from - 1 + count), joined };
}

/** The words a test operand expands to (`[ ]`), or its string (`[[ ]]`); undefined: not evaluated. */
function operand(word: Word, argv: readonly string[], doubleBracket: boolean): string[] | undefined {
    if (word.pieces.length !== 1 || word.pieces[0].kind === "single") return undefined;
    const { text, kind } = word.pieces[0];
    const expansion = positional(text, argv);
    if (!expansion) return undefined;
    const joined = expansion.words.join(" ");
    if (doubleBracket) return [joined];
    if (kind === "plain") return joined.split(/\s+/).filter((w) => w !== "");
    return expansion.joined ? [joined] : expansion.words;
}

/** A literal (`[ ]`) or glob pattern (`[[ ]]`) as a regular expression; undefined when it expands anything. */
function pattern(word: Word, glob: boolean): RegExp | undefined {
    let source = "";
    for (const piece of word.pieces) {
        if (piece.kind !== "single" && /[$`]/.test(piece.text)) return undefined;
        if (glob && piece.kind === "plain" && piece.text.includes("[")) return undefined;
        for (const c of piece.text) {
            if (glob && piece.kind === "plain" && c === "*") source += "[\\s\\S]*";
            else if (glob && piece.kind === "plain" && c === "?") source += "[\\s\\S]";
            else source += c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
        }
    }
    return new RegExp(`^${source}$`);
}

/** One `[ a == b ]` or `[[ a == pattern ]]` test against argv. */
function evaluateTest(words: readonly Word[], argv: readonly string[], doubleBracket: boolean): Verdict {
    const shown = words.map((w) => w.raw).join(" ");
    const unknown = { unknown: doubleBracket ? `[[ ${shown} ]]` : `[ ${shown} ]` };
    if (words.length !== 3 || !["==", "=", "!="].includes(words[1].raw)) return unknown;
    const left = operand(words[0], argv, doubleBracket);
    const right = pattern(words[2], doubleBracket);
    if (!left || !right) return unknown;
    // `[` with other than one word on the left is a Bash error ("too many arguments"): false.
    if (left.length !== 1) return false;
    return right.test(left[0]) === (words[1].raw !== "!=");
}

/** A condition of tests joined by `&&`: false as soon as one test is false, else unknown if one is. */
function evaluateCondition(condition: string, argv: readonly string[]): Verdict {
    const words = shellWords(condition);
    if (!words) return { unknown: condition };
    const verdicts: Verdict[] = [];
    for (let i = 0; i < words.length; ) {
        const close = words[i].raw === "[" ? "]" : words[i].raw === "[[" ? "]]" : undefined;
        const end = close ? words.findIndex((w, j) => j > i && w.raw === close) : -1;
        const next = words[end + 1]?.raw;
        if (end < 0 || (next !== undefined && next !== "&&")) return { unknown: condition };
        verdicts.push(evaluateTest(words.slice(i + 1, end), argv, close === "]]"));
        i = end + 2;
    }
    if (verdicts.includes(false)) return false;
    return verdicts.find((v): v is { unknown: string } => typeof v === "object") ?? true;
}

/** Each db:prepare of the script with the tests that must hold for it to run. */
function dbPrepares(script: string): { line: number; requirements: Requirement[] }[] {
    const found: { line: number; requirements: Requirement[] }[] = [];
    const frames: { branches: { line: number; condition: string }[]; inElse: boolean }[] = [];
    const visit = (statement: Statement): void => {
        const { line, text } = statement;
        const frame = frames[frames.length - 1];
        let m: RegExpExecArray | null;
        if ((m = /^if\s+([\s\S]*)$/.exec(text))) frames.push({ branches: [{ line, condition: m[1] }], inElse: false });
        else if ((m = /^elif\s+([\s\S]*)$/.exec(text)) && frame) frame.branches.push({ line, condition: m[1] });
        else if ((m = /^(then|else|do)\b\s*([\s\S]*)$/.exec(text))) {
            if (m[1] === "else" && frame) frame.inElse = true;
            visit({ line, text: m[2] });
        } else if (/^fi\b/.test(text)) frames.pop();
        else if (DB_PREPARE.test(text)) {
            const requirements = frames.flatMap((f) =>
                f.branches.map((b, i) => ({ ...b, want: !f.inElse && i === f.branches.length - 1 })),
            );
            // `<test> && ./bin/rails db:prepare`: the part before the last && (or ||) is a condition too.
            const inline = /^([\s\S]*)(&&|\|\|)[^&|]*$/.exec(text.slice(0, text.search(DB_PREPARE)));
            if (inline) requirements.push({ line, condition: inline[1].trim(), want: inline[2] === "&&" });
            found.push({ line, requirements });
        }
    };
    shellStatements(script).forEach(visit);
    return found;
}

/** Shell-like rendering of argv for messages. */
const commandLine = (argv: readonly string[]): string => argv.map((w) => (/^[\w./:=@%+-]+$/.test(w) ? w : JSON.stringify(w))).join(" ");

function checkEntrypoint(app: AppFiles, server: ServerCommand, report: Report): void {
    const file = FILES.entrypoint;
    const fix = `test the last two arguments as Rails 8 does (${RAILS_8_CONDITION}) or run db:prepare unconditionally`;
    const script = app.read(file);
    if (script === undefined) {
        report.add(file, undefined, `missing; the image's ENTRYPOINT runs it to prepare the databases: add Rails 8's bin/docker-entrypoint`);
        return;
    }
    const prepares = dbPrepares(script);
    if (prepares.length === 0) {
        report.add(file, undefined, `never runs db:prepare, so the databases would never be created or migrated: add ./bin/rails db:prepare before exec "\${@}"`);
        return;
    }
    const command = commandLine(server.argv);
    const outcomes = prepares.map(({ requirements }) => {
        const verdicts = requirements.map((r) => ({ r, verdict: evaluateCondition(r.condition, server.argv) }));
        const unmet = verdicts.find(({ r, verdict }) => typeof verdict === "boolean" && verdict !== r.want);
        return unmet ?? verdicts.find(({ verdict }) => typeof verdict === "object");
    });
    if (outcomes.includes(undefined)) return;
    const messages = new Map<string, { line: number; message: string }>();
    for (const outcome of outcomes) {
        if (!outcome) continue;
        const { r, verdict } = outcome;
        const condition = r.condition.replace(/\s+/g, " ").trim();
        const message =
            typeof verdict === "object"
                ? `cannot verify that db:prepare runs for \`${command}\`: the doctor does not evaluate ${verdict.unknown}; ${fix}`
                : r.want
                  ? `runs db:prepare only when ${condition}, which \`${command}\` does not match: the databases would not be prepared; ${fix}`
                  : `runs db:prepare only when ${condition} is false, but \`${command}\` matches it: the databases would not be prepared; ${fix}`;
        messages.set(`${r.line}\0${message}`, { line: r.line, message });
    }
    for (const { line, message } of messages.values()) report.add(file, line, message);
}

// --- config/storage.yml -----------------------------------------------------------------------------

function checkStorage(app: AppFiles, service: string, report: Report): void {
    const file = FILES.storage;
    const entry = `the ${service}: entry the stack renders (npm run plan writes it to out/<stack>/storage/active-storage.yml)`;
    const text = app.read(file);
    if (text === undefined) {
        report.add(file, undefined, `missing; Active Storage reads its services from it: add ${entry}`);
        return;
    }
    const yaml = loadYaml(file, text, report);
    if (!yaml) return;
    const root = asMap(yaml, yaml.doc.contents);
    const pairs = root ? pairsOf(yaml, root, service) : [];
    if (pairs.length === 0) {
        report.add(file, undefined, `has no ${service}: service, where the stack keeps attachments (R2): add ${entry} and set config.active_storage.service = :${service}`);
    }
    for (const pair of pairs) {
        const map = asMap(yaml, pair.value);
        const kinds = map ? pairsOf(yaml, map, "service") : [];
        const kind = kinds.map((k) => sourceOf(yaml, k.value)).join(", ");
        if (!(kinds.length === 1 && YAML.isScalar(kinds[0].value) && kinds[0].value.value === "S3")) {
            const what = kinds.length === 0 ? "has no service:" : `has service: ${kind}`;
            report.add(file, lineOf(yaml, kinds[0]?.key ?? pair.key), `${service}: ${what}; R2 is reached through Active Storage's S3 service: use service: S3 as in ${entry}`);
            continue;
        }
        // aws-sdk-s3 1.178 and later send integrity checksums R2 rejects unless told to send them
        // only when required (Cloudflare's R2 docs, "aws-sdk-ruby"): uploads would fail.
        for (const setting of R2_CHECKSUM_SETTINGS) {
            const found = pairsOf(yaml, map!, setting);
            if (found.length === 1 && YAML.isScalar(found[0].value) && found[0].value.value === "when_required") continue;
            const has = found.length === 0 ? "lacks" : `has ${setting}: ${found.map((f) => sourceOf(yaml, f.value)).join(", ")} instead of`;
            report.add(
                file,
                lineOf(yaml, found[0]?.key ?? pair.key),
                `${service}: ${has} ${found.length === 0 ? `${setting}: when_required` : "when_required"}; aws-sdk-s3 1.178 and later send checksums R2 rejects, so uploads would fail: add it as in ${entry}`,
            );
        }
    }
}

/** The two settings Cloudflare documents for aws-sdk-s3 >= 1.178 against R2. */
const R2_CHECKSUM_SETTINGS = ["request_checksum_calculation", "response_checksum_validation"] as const;
