// `npm run doctor -- --stack <name> [--app-dir <dir>]`, and the deploy step's
// `node launch.js deploy/doctor-cli --app-dir <dir> --rails-env <env> --litestream <file>`: checks the
// app's checkout (deploy/doctor.ts) and prints every problem at once. Exit 0 ready, 1 problems, 2 unusable.
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../config/parse";
import { PROJECT_ROOT } from "../lib/project";
import { ACTIVE_STORAGE_SERVICE } from "../renderers/active-storage";
import { renderLitestream } from "../renderers/litestream";
import { AppFiles, checkApp, DoctorExpectations, formatProblem } from "./doctor";

const USAGE = [
    "usage: npm run doctor -- --stack <production|staging|pr-N> [--app-dir <dir>]",
    "       node launch.js deploy/doctor-cli --app-dir <dir> --rails-env <env> --litestream <file>",
].join("\n");

/** Where the command writes; the tests capture it. */
export interface DoctorIo {
    stdout(text: string): void;
    stderr(text: string): void;
}

const FLAGS = { "--stack": "stack", "--app-dir": "appDir", "--rails-env": "railsEnv", "--litestream": "litestream" } as const;
type Flag = keyof typeof FLAGS;

type Args = { stack: string; appDir?: string } | { appDir: string; railsEnv: string; litestream: string };

/** What to check and against what; exit code 2 once the reason is printed. */
type Target = { appDir: string; expect: DoctorExpectations } | number;

function parseArgs(argv: readonly string[]): Args | string {
    const values: Partial<Record<(typeof FLAGS)[Flag], string>> = {};
    for (let i = 0; i < argv.length; i += 2) {
        const [flag, value] = [argv[i], argv[i + 1]];
        if (!Object.hasOwn(FLAGS, flag)) return `unknown argument ${flag}`;
        if (value === undefined || value.startsWith("--")) return `${flag}: missing value`;
        values[FLAGS[flag as Flag]] = value;
    }
    const { stack, appDir, railsEnv, litestream } = values;
    if (stack !== undefined) {
        return railsEnv === undefined && litestream === undefined ? { stack, appDir } : "--stack takes RAILS_ENV and Litestream from the stack: drop --rails-env and --litestream";
    }
    if (appDir !== undefined && railsEnv !== undefined && litestream !== undefined) return { appDir, railsEnv, litestream };
    return "give --stack, or --app-dir, --rails-env and --litestream together";
}

/** The user's form: expectations rendered from the stack's config, as the offline plan reads it. */
async function fromStack(stack: string, appDir: string | undefined, io: DoctorIo): Promise<Target> {
    // Loaded here only: they pull in Pulumi, which the deploy step's form does without.
    const [{ stackConfigFromFiles }, { r2Endpoint }] = await Promise.all([import("../plan/run"), import("../components/storage")]);
    const source = stackConfigFromFiles(PROJECT_ROOT, stack);
    const parsed = parseConfig(source, stack);
    if (!parsed.ok) {
        io.stderr(`invalid stack config for ${stack} (${source.file}):\n${parsed.errors.map((e) => `  ${e}\n`).join("")}`);
        return 2;
    }
    const { settings } = parsed;
    const litestreamYaml = renderLitestream({
        railsEnv: settings.railsEnv,
        stack: settings.stack,
        bucket: settings.storage.backupsBucket,
        endpoint: r2Endpoint(settings.cloudflare.accountId, settings.storage.jurisdiction),
        databases: settings.storage.litestream,
    });
    return {
        // The configured checkout is relative to the project; one given on the command line, to the cwd.
        appDir: appDir === undefined ? path.resolve(PROJECT_ROOT, settings.deploy.appDir) : path.resolve(appDir),
        expect: { railsEnv: settings.railsEnv, litestreamYaml, activeStorageService: ACTIVE_STORAGE_SERVICE },
    };
}

/** The deploy step's form: the stack's rendered litestream.yml is already on disk. */
function fromFlags(args: { appDir: string; railsEnv: string; litestream: string }, io: DoctorIo): Target {
    const file = path.resolve(args.litestream);
    if (!fs.existsSync(file)) {
        io.stderr(`doctor: Litestream file ${file} does not exist\n`);
        return 2;
    }
    const litestreamYaml = fs.readFileSync(file, "utf8");
    return { appDir: path.resolve(args.appDir), expect: { railsEnv: args.railsEnv, litestreamYaml, activeStorageService: ACTIVE_STORAGE_SERVICE } };
}

function appFiles(dir: string): AppFiles {
    return {
        read: (relativePath) => {
            const file = path.join(dir, relativePath);
            return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
        },
    };
}

async function run(args: Args, io: DoctorIo): Promise<number> {
    const target = "stack" in args ? await fromStack(args.stack, args.appDir, io) : fromFlags(args, io);
    if (typeof target === "number") return target;
    const { appDir, expect } = target;
    if (!fs.statSync(appDir, { throwIfNoEntry: false })?.isDirectory()) {
        io.stderr(`doctor: app directory ${appDir} does not exist\n`);
        return 2;
    }
    const problems = checkApp(appFiles(appDir), expect);
    for (const problem of problems) io.stdout(`${formatProblem(problem)}\n`);
    if (problems.length === 0) {
        io.stdout(`doctor: ${appDir} is ready for RAILS_ENV=${expect.railsEnv}\n`);
        return 0;
    }
    io.stdout(`doctor: ${problems.length} problem${problems.length === 1 ? "" : "s"} in ${appDir} for RAILS_ENV=${expect.railsEnv}\n`);
    return 1;
}

/** Runs the command; resolves to its exit code. Failures become one line on stderr, never a stack trace. */
export async function main(argv: readonly string[], io: DoctorIo): Promise<number> {
    const args = parseArgs(argv);
    if (typeof args === "string") {
        io.stderr(`doctor: ${args}\n${USAGE}\n`);
        return 2;
    }
    try {
        return await run(args, io);
    } catch (err) {
        io.stderr(`doctor: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]}\n`);
        return 2;
    }
}

// A program when run directly or as `node launch.js deploy/doctor-cli` (launch.js is then require.main);
// a module when the tests import it.
if (require.main === module || require.main?.filename === path.join(PROJECT_ROOT, "launch.js")) {
    main(process.argv.slice(2), { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) }).then((code) => process.exit(code));
}
