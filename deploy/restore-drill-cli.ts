// `npm run restore-drill -- --stack <name>`: the restore drill (deploy/restore-drill.ts) for a stack,
// with its config read as the offline plan reads it and Litestream's credentials from the
// environment (LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY: the names the deploy step
// uses). Prints a Markdown report; exit 0 every replica restores, 1 problems (one line each on
// stderr too), 2 the drill could not run.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../config/parse";
import { PROJECT_ROOT } from "../lib/project";
import { LITESTREAM_ENV } from "../renderers/litestream";
import { formatDrill, restoreDrill } from "./restore-drill";

const USAGE = "usage: npm run restore-drill -- --stack <production|staging|pr-N>";
/** The Litestream release the accessory runs, from npm, where the machine has no other (linux-x64). */
const BUNDLED_LITESTREAM = path.join(PROJECT_ROOT, "node_modules", "@flydotio", "litestream-linux-x64", "litestream");

const onPath = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;

/** RAILS_STACK_LITESTREAM, else `litestream` on PATH, else the npm build. */
function litestreamExecutable(): string | undefined {
    const configured = process.env.RAILS_STACK_LITESTREAM;
    if (configured) return configured;
    if (onPath("litestream")) return "litestream";
    return fs.existsSync(BUNDLED_LITESTREAM) ? BUNDLED_LITESTREAM : undefined;
}

/** What a test may put in place of the real thing: the project's directory, and the drill itself (R2 and Litestream). */
export interface DrillSeams {
    readonly root?: string;
    readonly drill?: typeof restoreDrill;
}

export async function main(argv: readonly string[], io: { stdout(text: string): void; stderr(text: string): void }, seams: DrillSeams = {}): Promise<number> {
    const fail = (message: string): number => (io.stderr(`restore-drill: ${message}\n`), 2);
    if (argv.length !== 2 || argv[0] !== "--stack") return fail(`expected --stack <name>\n${USAGE}`);
    const stack = argv[1];
    const { invalidConfigReport, stackConfigFromFiles } = await import("../plan/stack-config");
    const source = stackConfigFromFiles(seams.root ?? PROJECT_ROOT, stack);
    const parsed = parseConfig(source, stack);
    if (!parsed.ok) return fail(invalidConfigReport(stack, source.file, parsed.errors));
    const accessKeyId = process.env[LITESTREAM_ENV.accessKeyId];
    const secretAccessKey = process.env[LITESTREAM_ENV.secretAccessKey];
    if (!accessKeyId || !secretAccessKey) return fail(`${LITESTREAM_ENV.accessKeyId} and ${LITESTREAM_ENV.secretAccessKey} must hold the stack's Litestream credentials (docs/runbooks.md, "Restore drill")`);
    const litestream = litestreamExecutable();
    if (!litestream) return fail("no Litestream 0.3.13 here: put litestream on PATH or set RAILS_STACK_LITESTREAM");
    if (!onPath("sqlite3")) return fail("sqlite3 is not installed (the integrity check runs it)");
    const result = await (seams.drill ?? restoreDrill)(parsed.settings, { litestream, sqlite3: "sqlite3", credentials: { accessKeyId, secretAccessKey }, now: () => new Date() });
    io.stdout(formatDrill(stack, result));
    for (const problem of result.problems) io.stderr(`restore-drill: ${problem}\n`);
    return result.problems.length === 0 ? 0 : 1;
}

/** The program on the process's streams: the exit code is main's, 2 for anything it did not expect. */
export function run(argv: readonly string[], seams: DrillSeams = {}): void {
    main(argv, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }, seams).then(
        (code) => (process.exitCode = code),
        (err: Error) => {
            process.stderr.write(`restore-drill: ${err.message}\n`);
            process.exitCode = 2;
        },
    );
}

// A program when run as `node launch.js deploy/restore-drill-cli` (launch.js loads it first);
// a module when something else loads it (the tests' stand-in, which launch.js also starts).
if (require.main === module || (require.main?.filename === path.join(PROJECT_ROOT, "launch.js") && require.main.children.includes(module))) {
    run(process.argv.slice(2));
}
