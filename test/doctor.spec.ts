// The app doctor: every check on in-memory variants of a healthy Rails 8 app, seed 000's broken app
// line for line, and the command in-process (launch.js would compile the whole project first).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_REPLICATION } from "../config/parse-storage";
import { DatabaseName, Replication } from "../config/settings";
import { main } from "../deploy/doctor-cli";
import { AppFiles, checkApp, formatProblem } from "../deploy/doctor";
import { renderLitestream } from "../renderers/litestream";

const APPS = path.join(__dirname, "fixtures", "apps");

/** A fixture app's files by relative path. */
function fixture(name: string): Record<string, string> {
    const root = path.join(APPS, name);
    const files: Record<string, string> = {};
    const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else files[path.relative(root, full).split(path.sep).join("/")] = fs.readFileSync(full, "utf8");
        }
    };
    walk(root);
    return files;
}

const HEALTHY = fixture("healthy");

/** One text replacement in a healthy file; fails when `from` is not there, so no case passes vacuously. */
function edit(file: string, from: string, to: string): Record<string, string> {
    assert.ok(HEALTHY[file].includes(from), `${file} has no ${JSON.stringify(from)}`);
    return { [file]: HEALTHY[file].replace(from, to) };
}

const without = (file: string): Record<string, undefined> => ({ [file]: undefined });

function app(changes: Record<string, string | undefined>, base: Record<string, string> = HEALTHY): AppFiles {
    const files: Record<string, string | undefined> = { ...base, ...changes };
    return { read: (relativePath) => files[relativePath] };
}

function litestream(railsEnv: string, off: DatabaseName[] = []): string {
    const databases: Record<DatabaseName, Replication | null> = { ...DEFAULT_REPLICATION };
    for (const db of off) databases[db] = null;
    return renderLitestream({ railsEnv, stack: railsEnv, bucket: "shop-backups", endpoint: "https://0123.r2.cloudflarestorage.com", databases });
}

function check(files: AppFiles, railsEnv = "staging", off: DatabaseName[] = []): string[] {
    return checkApp(files, { railsEnv, litestreamYaml: litestream(railsEnv, off), activeStorageService: "r2" }).map(formatProblem);
}

const RAILS_8_IF = `if [ "\${@: -2:1}" == "./bin/rails" ] && [ "\${@: -1:1}" == "server" ]; then
  ./bin/rails db:prepare
fi
`;
const entrypoint = (block: string): Record<string, string> => edit("bin/docker-entrypoint", RAILS_8_IF, block);
const cmd = (line: string): Record<string, string> => edit("Dockerfile", `CMD ["./bin/thrust", "./bin/rails", "server"]`, line);

const THRUST = "`./bin/thrust ./bin/rails server`";
const FIX = `test the last two arguments as Rails 8 does (if [ "\${@: -2:1}" == "./bin/rails" ] && [ "\${@: -1:1}" == "server" ]) or run db:prepare unconditionally`;
const NOT_PREPARED = "the databases would not be prepared";
const ENV_ADVICE = (railsEnv: string): string =>
    `one image serves every stack and Kamal sets RAILS_ENV=${railsEnv} at run time: remove it from ENV and set it inline on the build steps ` +
    "that need it, e.g. RUN RAILS_ENV=production SECRET_KEY_BASE_DUMMY=1 ./bin/rails assets:precompile";
const PROXY = "kamal-proxy sends requests to port 80, where Thruster listens; Puma alone listens on 3000, so health checks would fail";
const SQLITE = "the pre-deploy database backup runs sqlite3 from the app image";
const R2_ENTRY = "the r2: entry the stack renders (npm run plan writes it to out/<stack>/storage/active-storage.yml)";

const SEED_000_STAGING = [
    `Dockerfile:17: ENV RAILS_ENV="production" bakes one environment into the image, but ${ENV_ADVICE("staging")}`,
    "config/database.yml:25: staging has no queue: database, which Solid Queue connects to; solid_queue: is there instead: rename it to queue: (and solid_queue in any connects_to) with database: storage/staging_queue.sqlite3",
    "config/database.yml:25: staging has no cache: database, which Solid Cache connects to; solid_cache: is there instead: rename it to cache: (and solid_cache in any connects_to) with database: storage/staging_cache.sqlite3",
    "config/database.yml:25: staging has no cable: database, which Solid Cable connects to; solid_cable: is there instead: rename it to cable: (and solid_cable in any connects_to) with database: storage/staging_cable.sqlite3",
    "config/database.yml:27: staging.primary database: storage/databases/staging.sqlite3 (/rails/storage/databases/staging.sqlite3 in the container) is not the file Litestream replicates, /rails/storage/staging.sqlite3: use database: storage/staging.sqlite3",
    'config/environments/staging.rb: missing; Rails cannot boot RAILS_ENV=staging without it: add it, e.g. one line require_relative "production" to run staging like production',
    `config/storage.yml: has no r2: service, where the stack keeps attachments (R2): add ${R2_ENTRY} and set config.active_storage.service = :r2`,
];

describe("doctor: whole apps", () => {
    for (const railsEnv of ["staging", "production"]) {
        it(`finds nothing wrong with a healthy Rails 8 app for RAILS_ENV=${railsEnv}`, () => {
            assert.deepStrictEqual(check(app({}), railsEnv), []);
        });
    }

    it("reports every problem of seed 000's app for RAILS_ENV=staging, sorted by file and line", () => {
        assert.deepStrictEqual(check(app({}, fixture("seed-000"))), SEED_000_STAGING);
    });

    it("formats a problem without a line as file: message", () => {
        assert.strictEqual(formatProblem({ file: "Dockerfile", message: "missing" }), "Dockerfile: missing");
        assert.strictEqual(formatProblem({ file: "Dockerfile", line: 3, message: "bad" }), "Dockerfile:3: bad");
    });
});

interface Case {
    readonly name: string;
    readonly changes: Record<string, string | undefined>;
    readonly railsEnv?: string;
    /** Databases Litestream does not replicate. */
    readonly off?: DatabaseName[];
    readonly expected: string[];
}

const ENTRYPOINT_CASES: Case[] = [
    { name: "Rails 8's default condition matches ./bin/thrust ./bin/rails server", changes: entrypoint(RAILS_8_IF), expected: [] },
    {
        name: "a $1/$2 condition does not match the Thruster command",
        changes: entrypoint(`if [ "$1" == "./bin/rails" ] && [ "$2" == "server" ]; then\n  ./bin/rails db:prepare\nfi\n`),
        expected: [`bin/docker-entrypoint:10: runs db:prepare only when [ "$1" == "./bin/rails" ] && [ "$2" == "server" ], which ${THRUST} does not match: ${NOT_PREPARED}; ${FIX}`],
    },
    {
        name: '[[ "$*" == *"./bin/rails server"* ]] matches',
        changes: entrypoint(`if [[ "$*" == *"./bin/rails server"* ]]; then\n  ./bin/rails db:prepare\nfi\n`),
        expected: [],
    },
    {
        name: "${@: N:1} and ${N} count from the first argument",
        changes: entrypoint(`if [ "\${@: 2:1}" == "./bin/rails" ] && [ \${3} = server ]\nthen\n  bin/rails db:prepare\nfi\n`),
        expected: [],
    },
    {
        name: "a condition on something else cannot be verified",
        changes: entrypoint(`if [ -z "\${SKIP_DB_PREPARE}" ]; then\n  ./bin/rails db:prepare\nfi\n`),
        expected: [`bin/docker-entrypoint:10: cannot verify that db:prepare runs for ${THRUST}: the doctor does not evaluate [ -z "\${SKIP_DB_PREPARE}" ]; ${FIX}`],
    },
    {
        name: "${@:-2:1} (no space: Bash's default-value expansion) is not guessed at",
        changes: entrypoint(`if [ "\${@:-2:1}" == "./bin/rails" ]; then\n  ./bin/rails db:prepare\nfi\n`),
        expected: [`bin/docker-entrypoint:10: cannot verify that db:prepare runs for ${THRUST}: the doctor does not evaluate [ "\${@:-2:1}" == "./bin/rails" ]; ${FIX}`],
    },
    {
        name: "a false test decides even beside one that cannot be evaluated",
        changes: entrypoint(`if [ "$1" == "./bin/rails" ] && [ -z "$SKIP" ]; then\n  ./bin/rails db:prepare\nfi\n`),
        expected: [`bin/docker-entrypoint:10: runs db:prepare only when [ "$1" == "./bin/rails" ] && [ -z "$SKIP" ], which ${THRUST} does not match: ${NOT_PREPARED}; ${FIX}`],
    },
    { name: "an unconditional db:prepare is fine", changes: entrypoint("./bin/rails db:prepare\n"), expected: [] },
    {
        name: "a test && db:prepare on one line is a condition",
        changes: entrypoint(`[ "$1" == "./bin/rails" ] && ./bin/rails db:prepare\n`),
        expected: [`bin/docker-entrypoint:10: runs db:prepare only when [ "$1" == "./bin/rails" ], which ${THRUST} does not match: ${NOT_PREPARED}; ${FIX}`],
    },
    {
        name: "db:prepare in an else branch runs only when the if fails",
        changes: entrypoint(`if [ "\${1}" == "./bin/thrust" ]; then\n  echo "assets only"\nelse\n  ./bin/rails db:prepare\nfi\n`),
        expected: [`bin/docker-entrypoint:10: runs db:prepare only when [ "\${1}" == "./bin/thrust" ] is false, but ${THRUST} matches it: ${NOT_PREPARED}; ${FIX}`],
    },
    {
        name: "an entrypoint without db:prepare",
        changes: entrypoint(`echo "no database work"\n`),
        expected: ['bin/docker-entrypoint: never runs db:prepare, so the databases would never be created or migrated: add ./bin/rails db:prepare before exec "${@}"'],
    },
    {
        name: "a shell-form CMD reaches the entrypoint as /bin/sh -c",
        changes: cmd("CMD ./bin/thrust ./bin/rails server"),
        expected: [`bin/docker-entrypoint:10: runs db:prepare only when [ "\${@: -2:1}" == "./bin/rails" ] && [ "\${@: -1:1}" == "server" ], which \`/bin/sh -c "./bin/thrust ./bin/rails server"\` does not match: ${NOT_PREPARED}; ${FIX}`],
    },
    {
        name: "a missing entrypoint",
        changes: without("bin/docker-entrypoint"),
        expected: ["bin/docker-entrypoint: missing; the image's ENTRYPOINT runs it to prepare the databases: add Rails 8's bin/docker-entrypoint"],
    },
];

const DOCKERFILE_CASES: Case[] = [
    {
        name: "a CMD without Thruster (the entrypoint still matches ./bin/rails server)",
        changes: cmd(`CMD ["./bin/rails", "server"]`),
        expected: [`Dockerfile:62: CMD ["./bin/rails", "server"] does not run the server through Thruster; ${PROXY}: use CMD ["./bin/thrust", "./bin/rails", "server"]`],
    },
    {
        name: "ENV RAILS_ENV on a continuation line, past a comment, reports that line",
        changes: edit("Dockerfile", `ENV BUNDLE_DEPLOYMENT="1" \\\n`, `ENV BUNDLE_DEPLOYMENT="1" \\\n    # the environment\n    RAILS_ENV=production \\\n`),
        expected: [`Dockerfile:19: ENV RAILS_ENV=production bakes one environment into the image, but ${ENV_ADVICE("staging")}`],
    },
    {
        name: "the legacy ENV RAILS_ENV production form",
        changes: edit("Dockerfile", "# Throw-away build stage to reduce size of final image\n", "ENV RAILS_ENV production\n"),
        railsEnv: "production",
        expected: [`Dockerfile:21: ENV RAILS_ENV production bakes one environment into the image, but ${ENV_ADVICE("production")}`],
    },
    {
        name: "an image without sqlite3",
        changes: edit("Dockerfile", "libvips sqlite3 &&", "libvips &&"),
        expected: [`Dockerfile:14: the image installs no sqlite3 (this apt-get install has curl libjemalloc2 libvips); ${SQLITE}: add sqlite3 here`],
    },
    {
        name: "sqlite3 installed in the build stage only is not in the image",
        changes: { Dockerfile: HEALTHY.Dockerfile.replace("libvips sqlite3 &&", "libvips &&").replace("pkg-config &&", "pkg-config sqlite3 &&") },
        expected: [`Dockerfile:14: the image installs no sqlite3 (this apt-get install has curl libjemalloc2 libvips); ${SQLITE}: add sqlite3 here`],
    },
    {
        name: "an image without CMD (the entrypoint is checked against Rails 8's command)",
        changes: cmd(""),
        expected: [`Dockerfile: the image has no CMD, so it would not start the app server; ${PROXY}: end the final stage with CMD ["./bin/thrust", "./bin/rails", "server"]`],
    },
    {
        name: "a missing Dockerfile",
        changes: without("Dockerfile"),
        expected: [`Dockerfile: missing; Kamal builds the app's image from it: add Rails 8's generated Dockerfile (CMD ["./bin/thrust", "./bin/rails", "server"])`],
    },
];

const database = (from: string, to: string): Record<string, string> => edit("config/database.yml", from, to);
const STAGING_CACHE = "  cache:\n    <<: *default\n    database: storage/staging_cache.sqlite3\n    migrations_paths: db/cache_migrate\n  queue:\n    <<: *default\n    database: storage/staging_queue";

const DATABASE_CASES: Case[] = [
    {
        name: "a path that disagrees with Litestream",
        changes: database("database: storage/staging.sqlite3", "database: storage/db/staging.sqlite3"),
        expected: [
            "config/database.yml:42: staging.primary database: storage/db/staging.sqlite3 (/rails/storage/db/staging.sqlite3 in the container) is not the file Litestream replicates, /rails/storage/staging.sqlite3: use database: storage/staging.sqlite3",
        ],
    },
    {
        name: "an absolute path equal to Litestream's",
        changes: database("database: storage/staging.sqlite3", "database: /rails/storage/staging.sqlite3"),
        expected: [],
    },
    {
        name: "with cache replication off, the cache entry is still required",
        changes: database(STAGING_CACHE, "  queue:\n    <<: *default\n    database: storage/staging_queue"),
        off: ["cache"],
        expected: ["config/database.yml:39: staging has no cache: database, which Solid Cache connects to: add cache: with database: storage/staging_cache.sqlite3"],
    },
    {
        name: "with cache replication off, any path under storage/ will do",
        changes: database("storage/staging_cache.sqlite3", "storage/cache/staging.sqlite3"),
        off: ["cache"],
        expected: [],
    },
    {
        name: "a database outside storage/ would not persist",
        changes: database("storage/staging_cache.sqlite3", "tmp/staging_cache.sqlite3"),
        off: ["cache"],
        expected: [
            "config/database.yml:45: staging.cache database: tmp/staging_cache.sqlite3 (/rails/tmp/staging_cache.sqlite3 in the container) is outside the storage volume /rails/storage, so it would be lost with the container: use database: storage/staging_cache.sqlite3",
        ],
    },
    {
        name: "url: and DATABASE_URL",
        changes: database(
            "    database: storage/staging.sqlite3\n",
            `    database: storage/staging.sqlite3\n    url: <%= ENV["DATABASE_URL"] %>\n    replica_url: <%= ENV.fetch("DATABASE_URL") %>\n`,
        ),
        expected: [
            'config/database.yml:43: staging.primary sets url: <%= ENV["DATABASE_URL"] %>, which overrides database:; remove it and keep database: storage/staging.sqlite3',
            'config/database.yml:44: staging.primary reads DATABASE_URL (replica_url: <%= ENV.fetch("DATABASE_URL") %>); a DATABASE_URL overrides the primary database and one URL cannot name four: remove it and keep database: storage/staging.sqlite3',
        ],
    },
    {
        name: "ERB does not shift line numbers",
        changes: database(
            "staging:\n  primary:\n    <<: *default\n    database: storage/staging.sqlite3",
            `<%# staging runs like production,\n    on its own files %>\n<% if ENV["STAGING"] %>\n<% end %>\nstaging:\n  primary:\n    <<: *default\n    database: storage/<%= "db" %>.sqlite3`,
        ),
        expected: [
            'config/database.yml:46: staging.primary database: storage/<%= "db" %>.sqlite3 is computed by ERB, so it cannot be checked against the file Litestream replicates, /rails/storage/staging.sqlite3: write the path, database: storage/staging.sqlite3',
        ],
    },
    {
        name: "a RAILS_ENV without an environment file or a database block",
        railsEnv: "qa",
        changes: {},
        expected: [
            "config/database.yml: has no qa: block, so Rails cannot connect in RAILS_ENV=qa: add one (primary: database: storage/qa.sqlite3, queue: database: storage/qa_queue.sqlite3, cache: database: storage/qa_cache.sqlite3, cable: database: storage/qa_cable.sqlite3)",
            'config/environments/qa.rb: missing; Rails cannot boot RAILS_ENV=qa without it: add it, e.g. one line require_relative "production" to run qa like production',
        ],
    },
    {
        name: "invalid YAML",
        changes: database("    database: storage/staging.sqlite3\n", "    database: [storage/staging.sqlite3\n"),
        expected: ["config/database.yml:43: is not valid YAML (ERB tags aside): Flow sequence in block collection must be sufficiently indented and end with a ]; fix the syntax"],
    },
    {
        name: "a missing database.yml",
        changes: without("config/database.yml"),
        expected: [
            "config/database.yml: missing; Rails reads the SQLite databases' paths from it: add it with a staging: block (primary: database: storage/staging.sqlite3, queue: database: storage/staging_queue.sqlite3, cache: database: storage/staging_cache.sqlite3, cable: database: storage/staging_cable.sqlite3)",
        ],
    },
];

const STORAGE_CASES: Case[] = [
    {
        name: "an r2: service that is not S3",
        changes: edit("config/storage.yml", "  service: S3", "  service: Disk"),
        expected: [`config/storage.yml:11: r2: has service: Disk; R2 is reached through Active Storage's S3 service: use service: S3 as in ${R2_ENTRY}`],
    },
    {
        name: "a missing storage.yml",
        changes: without("config/storage.yml"),
        expected: [`config/storage.yml: missing; Active Storage reads its services from it: add ${R2_ENTRY}`],
    },
];

for (const [title, cases] of [
    ["entrypoint", ENTRYPOINT_CASES],
    ["Dockerfile", DOCKERFILE_CASES],
    ["database.yml", DATABASE_CASES],
    ["storage.yml", STORAGE_CASES],
] as const) {
    describe(`doctor: ${title}`, () => {
        for (const c of cases) {
            it(c.name, () => assert.deepStrictEqual(check(app(c.changes), c.railsEnv, c.off), c.expected));
        }
    });
}

describe("doctor: the command", () => {
    // Made when the suite runs, not when mocha loads it: a filtered run leaves nothing behind.
    let tmp: string;
    let litestreamFile: string;
    before(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-"));
        litestreamFile = path.join(tmp, "litestream.yml");
        fs.writeFileSync(litestreamFile, litestream("staging"));
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
        const out = { stdout: "", stderr: "" };
        const code = await main(argv, { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text) });
        return { code, ...out };
    }
    const deployForm = (appDir: string): string[] => ["--app-dir", appDir, "--rails-env", "staging", "--litestream", litestreamFile];

    it("passes a healthy app (the deploy step's form)", async () => {
        const dir = path.join(APPS, "healthy");
        assert.deepStrictEqual(await run(deployForm(dir)), { code: 0, stdout: `doctor: ${dir} is ready for RAILS_ENV=staging\n`, stderr: "" });
    });

    it("prints every problem of seed 000's app, then a summary, and exits 1", async () => {
        const dir = path.join(APPS, "seed-000");
        const expected = [...SEED_000_STAGING, `doctor: 7 problems in ${dir} for RAILS_ENV=staging`].map((line) => `${line}\n`).join("");
        assert.deepStrictEqual(await run(deployForm(dir)), { code: 1, stdout: expected, stderr: "" });
    });

    it("reads RAILS_ENV and Litestream from the stack's config with --stack", async () => {
        const dir = path.join(APPS, "healthy");
        assert.deepStrictEqual(await run(["--stack", "staging", "--app-dir", dir]), { code: 0, stdout: `doctor: ${dir} is ready for RAILS_ENV=staging\n`, stderr: "" });
    });

    it("refuses an app directory that does not exist", async () => {
        const dir = path.join(tmp, "no-such-app");
        assert.deepStrictEqual(await run(deployForm(dir)), { code: 2, stdout: "", stderr: `doctor: app directory ${dir} does not exist\n` });
    });

    it("refuses a stack name outside the rules in one line, before looking for its file", async () => {
        const result = await run(["--stack", "qa"]);
        assert.deepStrictEqual(result, { code: 2, stdout: "", stderr: 'doctor: stack "qa": allowed stack names are production, staging and pr-<number>\n' });
    });

    for (const argv of [["--bogus", "x"], ["--app-dir"], ["--stack", "staging", "--rails-env", "staging"], ["--app-dir", "."]]) {
        it(`prints usage and exits 2 for ${argv.join(" ")}`, async () => {
            const result = await run(argv);
            assert.deepStrictEqual([result.code, result.stdout], [2, ""]);
            assert.match(result.stderr, /^doctor: .+\nusage: npm run doctor -- --stack <production\|staging\|pr-N> \[--app-dir <dir>\] \[--set key=value \.\.\.\]\n {7}node launch\.js deploy\/doctor-cli --app-dir <dir> --rails-env <env> --litestream <file>\n$/);
        });
    }
});
