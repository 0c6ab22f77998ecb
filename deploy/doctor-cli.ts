// `npm run doctor -- --stack <name> [--app-dir <dir>] [--set key=value ...]`, and the deploy step's
// `node launch.js deploy/doctor-cli --app-dir <dir> --rails-env <env> --litestream <file>`, to which the
// step adds what it will run: `--kamal-config <set>/deploy.yml --version <v> --build <true|false>
// --kamal <exe> [--image-digest <sha256:...>]`. Checks the app (deploy/doctor/) and prints every
// problem at once. With --stack and the stack's Hetzner token (--set hcloudToken=... or
// HCLOUD_TOKEN), also the capacity check of `pulumi preview` (plan/capacity-report.ts): one more
// line after the app's.
// Exit 0 ready, 1 problems, 2 unusable.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { parseConfig } from "../config/parse";
import { PROJECT_ROOT } from "../lib/project";
import { parseSetting } from "../plan/args";
import type { CapacityOutcome } from "../plan/capacity-report";
import { ACTIVE_STORAGE_SERVICE } from "../renderers/active-storage";
import { KAMAL_SECRET_ENV } from "../renderers/kamal";
import { litestreamInput, renderLitestream } from "../renderers/litestream";
import { checkApp, DoctorExpectations } from "./doctor/check";
import { AppFiles, atCommit, commitOf, workingTree } from "./doctor/files";
import { checkKamalVersion } from "./doctor/kamal";
import { imageName, ImageRef, readImage } from "./doctor/registry";
import { DoctorProblem, formatProblem } from "./doctor/report";

const USAGE = [
    "usage: npm run doctor -- --stack <production|staging|pr-N> [--app-dir <dir>] [--set key=value ...]",
    "       node launch.js deploy/doctor-cli --app-dir <dir> --rails-env <env> --litestream <file>",
].join("\n");

/** Where the command writes; the tests capture it. */
export interface DoctorIo {
    stdout(text: string): void;
    stderr(text: string): void;
}

const FLAGS = {
    "--stack": "stack",
    "--app-dir": "appDir",
    "--rails-env": "railsEnv",
    "--litestream": "litestream",
    "--kamal-config": "kamalConfig",
    "--version": "version",
    "--build": "build",
    "--kamal": "kamal",
    "--image-digest": "imageDigest",
} as const;
type Flag = keyof typeof FLAGS;
type Values = Partial<Record<(typeof FLAGS)[Flag], string>> & {
    /** `--set key=value`: the stack's config for this run, as `npm run plan` takes it. */
    readonly overrides?: Readonly<Record<string, string>>;
};

/** What will run: the version and how it is built, the image it becomes, and the Kamal that deploys it. */
interface Deployment {
    readonly version: string;
    readonly build: boolean;
    /** appImageDigest: the digest the tag must still name. */
    readonly imageDigest?: string;
    readonly image: ImageRef & { readonly username: string; readonly service: string };
    /** The executable, and how messages name it. */
    readonly kamal: { readonly path: string; readonly shown: string };
}

/**
 * What to check and against what, and the capacity check when it was asked for (under way while
 * the app is checked); exit code 2 once the reason is printed.
 */
type Target = { appDir: string; expect: DoctorExpectations; deployment?: Deployment; capacity?: Promise<CapacityOutcome> } | number;

function parseArgs(argv: readonly string[]): Values | string {
    const values: Partial<Record<(typeof FLAGS)[Flag], string>> = {};
    const overrides: Record<string, string> = {};
    for (let i = 0; i < argv.length; i += 2) {
        const [flag, value] = [argv[i], argv[i + 1]];
        if (flag !== "--set" && !Object.hasOwn(FLAGS, flag)) return `unknown argument ${flag}`;
        if (value === undefined || value.startsWith("--")) return `${flag}: missing value`;
        if (flag !== "--set") {
            values[FLAGS[flag as Flag]] = value;
            continue;
        }
        const setting = parseSetting(value);
        if (typeof setting === "string") return setting;
        overrides[setting[0]] = setting[1];
    }
    const { stack, appDir, railsEnv, litestream, kamalConfig, version, build, kamal, imageDigest } = values;
    const deployFlags = [kamalConfig, version, build, kamal];
    if (stack !== undefined) {
        if (railsEnv !== undefined || litestream !== undefined) return "--stack takes RAILS_ENV and Litestream from the stack: drop --rails-env and --litestream";
        return [...deployFlags, imageDigest].every((v) => v === undefined)
            ? { ...values, overrides }
            : "--stack takes the version, the image and Kamal from the stack: drop --kamal-config, --version, --build, --kamal and --image-digest";
    }
    if (Object.keys(overrides).length > 0) return "--set sets a stack's config: give --stack";
    if (appDir === undefined || railsEnv === undefined || litestream === undefined) return "give --stack, or --app-dir, --rails-env and --litestream together";
    if (deployFlags.some((v) => v !== undefined) && deployFlags.some((v) => v === undefined)) return "give --kamal-config, --version, --build and --kamal together";
    if (build !== undefined && build !== "true" && build !== "false") return `--build: expected true or false, got ${JSON.stringify(build)}`;
    if (imageDigest !== undefined && (build !== "false" || !/^sha256:[0-9a-f]{64}$/.test(imageDigest))) return `--image-digest: expected sha256:<64 hex> with --build false, got ${JSON.stringify(imageDigest)}`;
    return values;
}

/** The Kamal the deploy step runs: RAILS_STACK_KAMAL, else the app's bin/kamal. */
function kamalOf(appDir: string, given?: string): Deployment["kamal"] {
    const fromEnv = given ?? process.env.RAILS_STACK_KAMAL;
    return fromEnv ? { path: fromEnv, shown: fromEnv } : { path: path.join(appDir, "bin", "kamal"), shown: "bin/kamal" };
}

/**
 * The user's form: expectations rendered from the stack's config, as the offline plan reads it;
 * with the stack's Hetzner token, the capacity check starts too.
 */
async function fromStack(stack: string, appDirFlag: string | undefined, overrides: Readonly<Record<string, string>>, io: DoctorIo): Promise<Target> {
    // Loaded here only: the deploy step's form does without them.
    const [{ invalidConfigReport, stackConfigFromFiles }, { readCheckoutCommit, resolveAppVersion }, { askCapacity, givenToken }] = await Promise.all([
        import("../plan/stack-config"),
        import("../lib/app-checkout"),
        import("../plan/capacity-report"),
    ]);
    const source = stackConfigFromFiles(PROJECT_ROOT, stack, overrides);
    const parsed = parseConfig(source, stack);
    if (!parsed.ok) {
        io.stderr(`${invalidConfigReport(stack, source.file, parsed.errors)}\n`);
        return 2;
    }
    const { settings } = parsed;
    const litestreamYaml = renderLitestream(litestreamInput(settings));
    // The configured checkout is relative to the project; one given on the command line, to the cwd.
    const appDir = appDirFlag === undefined ? path.resolve(PROJECT_ROOT, settings.deploy.appDir) : path.resolve(appDirFlag);
    const expect: DoctorExpectations = { railsEnv: settings.railsEnv, litestreamYaml, activeStorageService: ACTIVE_STORAGE_SERVICE, service: settings.app };
    const version = await resolveAppVersion({ ...settings.deploy, appDir }, readCheckoutCommit);
    if (!("version" in version)) {
        io.stderr(`doctor: ${version.problem}\n`);
        return 2;
    }
    const { registry } = settings;
    const deployment: Deployment = {
        version: version.version,
        build: settings.deploy.buildImage,
        ...(settings.deploy.appImageDigest ? { imageDigest: settings.deploy.appImageDigest } : {}),
        image: { server: registry.server, repository: registry.image, tag: version.version, username: registry.username, service: settings.app },
        kamal: kamalOf(appDir),
    };
    const token = givenToken(source);
    return { appDir, expect, deployment, capacity: token === undefined ? undefined : askCapacity(settings, token) };
}

/** The deploy step's form: the stack's rendered litestream.yml and deploy.yml are already on disk. */
function fromFlags(values: Values, io: DoctorIo): Target {
    const read = (flag: string, file: string): string | undefined => {
        if (fs.existsSync(file)) return fs.readFileSync(file, "utf8");
        io.stderr(`doctor: ${flag} file ${file} does not exist\n`);
        return undefined;
    };
    const appDir = path.resolve(values.appDir!);
    const litestreamYaml = read("Litestream", path.resolve(values.litestream!));
    if (litestreamYaml === undefined) return 2;
    const expect: DoctorExpectations = { railsEnv: values.railsEnv!, litestreamYaml, activeStorageService: ACTIVE_STORAGE_SERVICE };
    if (values.kamalConfig === undefined) return { appDir, expect };
    const deployYaml = read("Kamal config", path.resolve(values.kamalConfig));
    if (deployYaml === undefined) return 2;
    // The set's deploy.yml names the service and the image exactly as Kamal will (renderers/kamal.ts).
    const kamal = YAML.parse(deployYaml) as { service: string; image: string; registry: { server: string; username: string } };
    return {
        appDir,
        expect: { ...expect, service: kamal.service },
        deployment: {
            version: values.version!,
            build: values.build === "true",
            ...(values.imageDigest ? { imageDigest: values.imageDigest } : {}),
            image: { server: kamal.registry.server, repository: kamal.image, tag: values.version!, username: kamal.registry.username, service: kamal.service },
            kamal: kamalOf(appDir, values.kamal),
        },
    };
}

/** Docker talks plain HTTP to a registry on the loopback address (its default insecure registries). */
const loopback = (server: string): boolean => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(server);

/** The app's files as deployed, the image's config when it is read from the registry, and Kamal's problem. */
async function inspect(appDir: string, deployment: Deployment, io: DoctorIo): Promise<{ files: AppFiles; image?: DoctorExpectations["image"]; problems: DoctorProblem[] } | number> {
    const problems: DoctorProblem[] = [];
    const kamal = checkKamalVersion(deployment.kamal.path, deployment.kamal.shown, appDir);
    if (kamal) problems.push(kamal);
    // Kamal builds HEAD (the deploy step checks that HEAD is the version); an image built elsewhere is
    // whatever the version's commit holds, whatever the working tree has now.
    if (deployment.build) return { files: workingTree(appDir), problems };
    const commit = commitOf(appDir, deployment.version);
    if ("problem" in commit) {
        io.stderr(`doctor: ${commit.problem}\n`);
        return 2;
    }
    const password = process.env[KAMAL_SECRET_ENV.registryPassword];
    const answer = await readImage(deployment.image, { username: deployment.image.username, password }, loopback(deployment.image.server) ? "http:" : undefined, deployment.imageDigest);
    const name = imageName(deployment.image);
    if ("problem" in answer) {
        // Without a password a private image cannot be read here; the deploy step has one.
        if (password === undefined && /refused/.test(answer.problem)) io.stderr(`doctor: ${name} not read (set ${KAMAL_SECRET_ENV.registryPassword} to read a private image); checked the Dockerfile at ${deployment.version}\n`);
        else problems.push({ file: name, message: answer.problem });
    } else if ("unreachable" in answer) {
        const pin = deployment.imageDigest ? `; its digest is checked on the host before anything boots (the pre-deploy hook)` : "";
        io.stderr(`doctor: ${name} could not be read from the registry (${answer.unreachable}); checked the Dockerfile at ${deployment.version}${pin}\n`);
    }
    return { files: atCommit(appDir, commit.commit), image: "image" in answer ? answer.image : undefined, problems };
}

async function run(values: Values, io: DoctorIo): Promise<number> {
    const target = values.stack !== undefined ? await fromStack(values.stack, values.appDir, values.overrides ?? {}, io) : fromFlags(values, io);
    if (typeof target === "number") return target;
    const code = await checkTarget(target, io);
    if (!target.capacity) return code;
    // After the app's lines, which stay as they are without the check.
    const capacity = await target.capacity;
    io.stdout(`${capacity.line}\n`);
    return code === 0 && !capacity.ok ? 1 : code;
}

/** The app's checks and their lines; the exit code. */
async function checkTarget(target: Exclude<Target, number>, io: DoctorIo): Promise<number> {
    const { appDir, deployment } = target;
    if (!fs.statSync(appDir, { throwIfNoEntry: false })?.isDirectory()) {
        io.stderr(`doctor: app directory ${appDir} does not exist\n`);
        return 2;
    }
    const inspected = deployment ? await inspect(appDir, deployment, io) : { files: workingTree(appDir), problems: [] };
    if (typeof inspected === "number") return inspected;
    const expect = { ...target.expect, image: inspected.image };
    const problems = [...inspected.problems, ...checkApp(inspected.files, expect)];
    for (const problem of problems) io.stdout(`${formatProblem(problem)}\n`);
    const at = deployment && !deployment.build ? ` at ${deployment.version}` : "";
    if (problems.length === 0) {
        io.stdout(`doctor: ${appDir}${at} is ready for RAILS_ENV=${expect.railsEnv}\n`);
        return 0;
    }
    io.stdout(`doctor: ${problems.length} problem${problems.length === 1 ? "" : "s"} in ${appDir}${at} for RAILS_ENV=${expect.railsEnv}\n`);
    return 1;
}

/** Runs the command; resolves to its exit code. Failures become one line on stderr, never a stack trace. */
export async function main(argv: readonly string[], io: DoctorIo): Promise<number> {
    const values = parseArgs(argv);
    if (typeof values === "string") {
        io.stderr(`doctor: ${values}\n${USAGE}\n`);
        return 2;
    }
    try {
        return await run(values, io);
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
