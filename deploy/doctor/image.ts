// What the container runs, from either source: the Dockerfile (the image Kamal builds) or the image's
// own config in the registry (buildImage: false). The checks here judge it the same way for both.
import * as path from "path";
import { APP_UID } from "../../lib/paths";
import { THRUSTER_PORT } from "../../renderers/kamal";
import { APP_ROOT, FILES } from "./files";
import { Report } from "./report";
import { commands, parseShell } from "./shell";

/** A setting and where it is written: a Dockerfile line, or nothing for an image's config. */
export interface Located<T> {
    readonly value: T;
    readonly line?: number;
    /** As written, for messages (e.g. `ENV RAILS_ENV="production"`). */
    readonly shown: string;
}

export interface ImageConfig {
    /** Where the settings come from: `Dockerfile`, or the image reference. */
    readonly source: string;
    /** Every ENV setting in order (a later one wins). */
    readonly env: readonly Located<{ readonly name: string; readonly value: string }>[];
    readonly entrypoint?: Located<readonly string[]>;
    readonly cmd?: Located<readonly string[]>;
    readonly user?: Located<string>;
    readonly workdir?: Located<string>;
    /** Only an image's config has its labels (Kamal labels what it builds itself). */
    readonly labels?: Readonly<Record<string, string>>;
}

/** The command Rails 8's image runs: Thruster on port 80 in front of Puma. */
export const SERVER_COMMAND: readonly string[] = ["./bin/thrust", "./bin/rails", "server"];
/** Its Dockerfile line, spelled as Rails writes it. */
export const SERVER_CMD = `CMD [${SERVER_COMMAND.map((w) => JSON.stringify(w)).join(", ")}]`;
/** Puma's port in Rails' generated config/puma.rb: `port ENV.fetch("PORT", 3000)`. */
const PUMA_DEFAULT_PORT = 3000;
/** Thruster listens on HTTP_PORT (or THRUSTER_HTTP_PORT), default 80, and hands Puma PORT=TARGET_PORT
 * (basecamp/thruster internal/config.go, internal/service.go). */
const THRUSTER_DEFAULT_PORT = 80;

const envValue = (image: ImageConfig, name: string): string | undefined => [...image.env].reverse().find((e) => e.value.name === name)?.value.value;

/** The argv the container's entrypoint receives ("$@"). */
export const serverArgv = (image: ImageConfig): readonly string[] => image.cmd?.value ?? SERVER_COMMAND;

export function checkImage(image: ImageConfig, expect: { railsEnv: string; service?: string }, report: Report): void {
    const file = image.source;
    const advice =
        `one image serves every stack and Kamal sets RAILS_ENV=${expect.railsEnv} at run time: remove it from ENV and set it inline on the build ` +
        "steps that need it, e.g. RUN RAILS_ENV=production SECRET_KEY_BASE_DUMMY=1 ./bin/rails assets:precompile";
    for (const env of image.env.filter((e) => e.value.name === "RAILS_ENV")) {
        report.add(file, env.line, `${env.shown} bakes one environment into the image, but ${advice}`);
    }
    checkServer(image, report);
    checkEntrypoint(image, report);
    const workdir = image.workdir?.value;
    if (workdir !== APP_ROOT) {
        report.add(file, image.workdir?.line, `${image.workdir ? `WORKDIR ${workdir}` : "no WORKDIR"}: the stack mounts the databases' volume at ${APP_ROOT}/storage, and database.yml's paths start at the app's root: use WORKDIR ${APP_ROOT} as Rails 8's Dockerfile does`);
    }
    const uid = image.user?.value.split(":")[0] ?? "";
    // A named user (`rails`) is whatever /etc/passwd in the image says: not checked.
    if (uid === "" || uid === "0" || uid === "root" || (/^\d+$/.test(uid) && Number(uid) !== APP_UID)) {
        report.add(
            file,
            image.user?.line,
            `${image.user ? `USER ${image.user.value}` : "no USER (runs as root)"}: Litestream and the pre-deploy backup run as uid ${APP_UID}, so they could not write the databases the app creates: use USER ${APP_UID}:${APP_UID} as Rails 8's Dockerfile does`,
        );
    }
    if (image.labels && expect.service !== undefined && image.labels.service !== expect.service) {
        const has = image.labels.service === undefined ? "has no service label" : `has the label service=${image.labels.service}`;
        report.add(file, undefined, `${has}; Kamal deploys only an image labelled service=${expect.service} ("missing the 'service' label"): build it with LABEL service="${expect.service}" (or docker build --label service=${expect.service})`);
    }
}

const isThruster = (word: string | undefined): boolean => /^(\.\/)?bin\/thrust$|^thrust$/.test(word ?? "");
const isRailsServer = (argv: readonly string[], at: number): boolean => /^(\.\/)?bin\/rails$|^rails$/.test(argv[at] ?? "") && ["server", "s"].includes(argv[at + 1] ?? "");

/** The words the server runs: a shell-form CMD's one command (`/bin/sh -c "..."`), else the exec form. */
function serverWords(argv: readonly string[]): readonly string[] {
    if (argv.length !== 3 || argv[0] !== "/bin/sh" || argv[1] !== "-c") return argv;
    const found = commands(parseShell(argv[2]));
    const words = found.length === 1 ? found[0].words : [];
    return words.length > 0 && words.every((w): w is string => w !== undefined) ? words : argv;
}

/** What listens where: kamal-proxy sends requests to port 80 (proxy.app_port). */
function checkServer(image: ImageConfig, report: Report): void {
    const file = image.source;
    const proxy = `kamal-proxy sends requests to port ${THRUSTER_PORT}, where Thruster listens`;
    if (!image.cmd) {
        report.add(file, undefined, `the image has no CMD, so it would not start the app server; ${proxy}; Puma alone listens on ${PUMA_DEFAULT_PORT}, so health checks would fail: end the final stage with ${SERVER_CMD}`);
        return;
    }
    const argv = serverWords(image.cmd.value);
    const thrust = argv.findIndex(isThruster);
    if (thrust >= 0 && isRailsServer(argv, thrust + 1)) {
        const port = envValue(image, "THRUSTER_HTTP_PORT") ?? envValue(image, "HTTP_PORT") ?? String(THRUSTER_DEFAULT_PORT);
        if (port !== String(THRUSTER_PORT)) {
            report.add(file, image.cmd.line, `${image.cmd.shown} runs Thruster on port ${port} (HTTP_PORT), but ${proxy.replace(", where Thruster listens", "")}: remove HTTP_PORT from ENV`);
        }
        return;
    }
    const rails = argv.findIndex((_, i) => isRailsServer(argv, i));
    if (rails >= 0) {
        const flag = argv.findIndex((w, i) => i > rails && (w === "-p" || w === "--port"));
        const inline = argv.find((w) => w.startsWith("--port="))?.slice("--port=".length);
        const port = inline ?? (flag >= 0 ? argv[flag + 1] : undefined) ?? envValue(image, "PORT") ?? String(PUMA_DEFAULT_PORT);
        // Puma alone on port 80 serves kamal-proxy too (without Thruster's caching and compression).
        if (port === String(THRUSTER_PORT)) return;
        const puma = port === String(PUMA_DEFAULT_PORT) ? `Puma alone listens on ${PUMA_DEFAULT_PORT}` : `Puma alone listens on ${port}`;
        report.add(file, image.cmd.line, `${image.cmd.shown} does not run the server through Thruster; ${proxy}; ${puma}, so health checks would fail: use ${SERVER_CMD}`);
        return;
    }
    report.add(file, image.cmd.line, `${image.cmd.shown} does not run ./bin/rails server, so the doctor cannot tell what listens on port ${THRUSTER_PORT}, where kamal-proxy sends requests: use ${SERVER_CMD}`);
}

/** The image must run the app's bin/docker-entrypoint, which prepares the databases. */
function checkEntrypoint(image: ImageConfig, report: Report): void {
    const script = image.entrypoint?.value[0];
    const runs = script !== undefined && path.posix.resolve(image.workdir?.value ?? APP_ROOT, script) === `${image.workdir?.value ?? APP_ROOT}/${FILES.entrypoint}` && image.entrypoint?.value.length === 1;
    if (runs) return;
    const has = image.entrypoint ? `ENTRYPOINT ${image.entrypoint.shown}` : "no ENTRYPOINT";
    report.add(image.source, image.entrypoint?.line, `${has}: nothing would run ${FILES.entrypoint}, which prepares the databases (db:prepare): use ENTRYPOINT ["${APP_ROOT}/${FILES.entrypoint}"]`);
}
