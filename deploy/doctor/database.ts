// config/database.yml: a <railsEnv>: block whose four databases are the files Litestream replicates.
import * as path from "path";
import * as YAML from "yaml";
import { DATABASE_NAMES, DatabaseName } from "../../config/settings";
import { STORAGE_CONTAINER_PATH } from "../../lib/paths";
import { databaseFiles } from "../../renderers/litestream";
import { allPairs, AnyPair, asMap, keyName, LoadedYaml, lineOf, loadYaml, pairsOf, sourceOf } from "./erb-yaml";
import { APP_ROOT, AppFiles, FILES } from "./files";
import { Report } from "./report";

/** Who connects to each Rails 8 database. */
const DATABASE_USERS: Readonly<Record<DatabaseName, string>> = {
    primary: "the app's models use",
    queue: "Solid Queue connects to",
    cache: "Solid Cache connects to",
    cable: "Solid Cable connects to",
};

/** Litestream's path per database, undefined for one it does not replicate. */
function litestreamPaths(litestreamYaml: string, railsEnv: string): Record<DatabaseName, string | undefined> {
    const config = YAML.parse(litestreamYaml) as { dbs?: { path?: unknown }[] } | null;
    const paths = (config?.dbs ?? []).flatMap((db) => (typeof db.path === "string" ? [db.path] : []));
    const files = databaseFiles(railsEnv);
    const byName = {} as Record<DatabaseName, string | undefined>;
    for (const db of DATABASE_NAMES) byName[db] = paths.find((p) => path.posix.basename(p) === files[db]);
    return byName;
}

export function checkDatabases(app: AppFiles, railsEnv: string, litestreamYaml: string, report: Report): void {
    const file = FILES.database;
    const env = railsEnv;
    const replicated = litestreamPaths(litestreamYaml, env);
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
