// bin/docker-entrypoint: db:prepare must run for the command the image starts with, as Rails 8's does.
import { AppFiles, FILES } from "./files";
import { Report } from "./report";
import { commandName, commands, evaluate, parseShell, Requirement, requirementsOf, Verdict } from "./shell";

const RAILS_8_CONDITION = `if [ "\${@: -2:1}" == "./bin/rails" ] && [ "\${@: -1:1}" == "server" ]`;

/** `rails db:prepare`, `./bin/rails db:prepare`, `bundle exec rake db:prepare`, ... */
const isDbPrepare = (words: readonly (string | undefined)[]): boolean =>
    words.some((w, i) => w === "db:prepare" && i > 0 && ["rails", "rake"].includes(commandName(words[i - 1])));

/** Shell-like rendering of argv for messages. */
const commandLine = (argv: readonly string[]): string => argv.map((w) => (/^[\w./:=@%+-]+$/.test(w) ? w : JSON.stringify(w))).join(" ");

/** `argv0`: the entrypoint's path as the image runs it ($0); `argv`: the command it receives ("$@"). */
export function checkEntrypoint(app: AppFiles, argv0: string, argv: readonly string[], report: Report): void {
    const file = FILES.entrypoint;
    const fix = `test the last two arguments as Rails 8 does (${RAILS_8_CONDITION}) or run db:prepare unconditionally`;
    const script = app.read(file);
    if (script === undefined) {
        report.add(file, undefined, `missing; the image's ENTRYPOINT runs it to prepare the databases: add Rails 8's bin/docker-entrypoint`);
        return;
    }
    const root = parseShell(script);
    if (root.hasError) {
        const at = root.descendantsOfType("ERROR")[0] ?? root;
        report.add(file, at.startPosition.row + 1, `is not a valid shell script here, so the container would stop before the app starts: fix the syntax`);
        return;
    }
    const prepares = commands(root).filter((c) => isDbPrepare(c.words));
    if (prepares.length === 0) {
        report.add(file, undefined, `never runs db:prepare, so the databases would never be created or migrated: add ./bin/rails db:prepare before exec "\${@}"`);
        return;
    }
    const command = commandLine(argv);
    // db:prepare runs when, for one of its places, every requirement holds.
    const outcomes = prepares.map(({ node }) => {
        const verdicts: { r: Requirement; verdict: Verdict }[] = [];
        for (const r of requirementsOf(node)) {
            const verdict = evaluate(r.nodes, argv0, argv);
            verdicts.push({ r, verdict });
            if (typeof verdict === "boolean" && verdict !== r.want) return { r, verdict };
        }
        return verdicts.find(({ verdict }) => typeof verdict === "object");
    });
    if (outcomes.includes(undefined)) return;
    const messages = new Map<string, { line: number; message: string }>();
    for (const outcome of outcomes) {
        if (!outcome) continue;
        const { r, verdict } = outcome;
        const message =
            typeof verdict === "object"
                ? `cannot verify that db:prepare runs for \`${command}\`: the doctor does not evaluate ${verdict.unknown}; ${fix}`
                : r.want
                  ? `runs db:prepare only when ${r.condition}, which \`${command}\` does not match: the databases would not be prepared; ${fix}`
                  : `runs db:prepare only when ${r.condition} is false, but \`${command}\` matches it: the databases would not be prepared; ${fix}`;
        messages.set(`${r.row}\0${message}`, { line: r.row + 1, message });
    }
    for (const { line, message } of messages.values()) report.add(file, line, message);
}
