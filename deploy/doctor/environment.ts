// config/environments/<railsEnv>.rb: it must exist, and the Active Storage service it selects must be
// the one the stack configures (R2), not Rails' default :local (files on the volume, never backed up).
import { AppFiles, FILES } from "./files";
import { Report } from "./report";

/** The two statements the check follows. Ruby has no maintained parser on npm that fits the shell
 * parser's tree-sitter 0.25 (tree-sitter-ruby 0.23 pins tree-sitter 0.21), so the lines are matched:
 * Rails' generated files write both exactly so, one per line. */
const SERVICE = /^\s*config\.active_storage\.service\s*=\s*(?::(\w+)|"(\w+)"|'(\w+)')\s*(?:#.*)?$/;
const REQUIRE = /^\s*require_relative\s+["']([\w-]+?)(?:\.rb)?["']\s*(?:#.*)?$/;

interface Assignment {
    readonly file: string;
    readonly line: number;
    readonly service: string;
}

/** The last `config.active_storage.service =` that runs for the file, following require_relative. */
function serviceOf(app: AppFiles, file: string, seen: Set<string>): Assignment | undefined {
    const text = app.read(file);
    if (text === undefined || seen.has(file)) return undefined;
    seen.add(file);
    let last: Assignment | undefined;
    text.split("\n").forEach((source, i) => {
        const required = REQUIRE.exec(source);
        if (required) last = serviceOf(app, `config/environments/${required[1]}.rb`, seen) ?? last;
        const set = SERVICE.exec(source);
        if (set) last = { file, line: i + 1, service: set[1] ?? set[2] ?? set[3] };
    });
    return last;
}

export function checkEnvironment(app: AppFiles, railsEnv: string, service: string, report: Report): void {
    const file = FILES.environment(railsEnv);
    if (app.read(file) === undefined) {
        const hint = railsEnv === "production" ? "" : `, e.g. one line require_relative "production" to run ${railsEnv} like production`;
        report.add(file, undefined, `missing; Rails cannot boot RAILS_ENV=${railsEnv} without it: add it${hint}`);
        return;
    }
    const set = `config.active_storage.service = :${service}`;
    const found = serviceOf(app, file, new Set());
    if (!found) {
        report.add(file, undefined, `selects no Active Storage service, so attachments cannot be stored in RAILS_ENV=${railsEnv}: add ${set} (the stack's R2 bucket)`);
    } else if (found.service !== service) {
        const where = found.service === "local" ? "stores attachments as files under storage/ on the host's volume, which Litestream does not back up" : `is not the service the stack configures (config/storage.yml ${service}:, the stack's R2 bucket)`;
        report.add(found.file, found.line, `config.active_storage.service = :${found.service} (RAILS_ENV=${railsEnv}) ${where}: set ${set}`);
    }
}
