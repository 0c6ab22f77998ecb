// The Dockerfile on a real parser (dockerfile-ast): the stages the final image is built from, what it
// runs (ENV, WORKDIR, USER, ENTRYPOINT, CMD) and the packages its RUN steps install (on the shell parser).
import { Cmd, DockerfileParser, Entrypoint, Env, From, Instruction, JSONInstruction, Run } from "dockerfile-ast";
import { FILES } from "./files";
import { ImageConfig, Located } from "./image";
import { Report } from "./report";
import { commandName, commands, parseShell } from "./shell";

export interface DockerfileFacts {
    /** What the image runs, as the Dockerfile sets it. */
    readonly image: ImageConfig;
    /** Package installs in the final image's stages (apt-get/apt install, apk add), by line. */
    readonly installs: readonly { readonly line: number; readonly tool: string; readonly packages: readonly string[] }[];
}

const line = (instruction: Instruction): number => instruction.getRange().start.line + 1;

/** The final stage and the stages it is built FROM, base first: what the image holds. */
function imageStages(instructions: readonly Instruction[]): Instruction[][] {
    const stages: { name?: string; base: string; instructions: Instruction[] }[] = [];
    for (const instruction of instructions) {
        if (instruction instanceof From) {
            stages.push({ base: (instruction.getImage() ?? "").toLowerCase(), name: instruction.getBuildStage()?.toLowerCase(), instructions: [] });
        } else {
            stages[stages.length - 1]?.instructions.push(instruction);
        }
    }
    const chain: Instruction[][] = [];
    for (let i = stages.length - 1; i >= 0; ) {
        chain.unshift(stages[i].instructions);
        const base = stages[i].base;
        do i--;
        while (i >= 0 && stages[i].name !== base);
    }
    return chain;
}

/** Exec form (`["a", "b"]`) as written, or shell form as `/bin/sh -c "<text>"` (Docker's default SHELL). */
function argv(instruction: JSONInstruction): string[] {
    const strings = instruction.getJSONStrings();
    if (instruction.getClosingBracket() && strings.length > 0) return strings.map((s) => s.getJSONValue());
    return ["/bin/sh", "-c", (instruction.getArgumentsContent() ?? "").replace(/\s+/g, " ").trim()];
}

const shownArgs = (instruction: Instruction): string => `${(instruction.getRawArgumentsContent() ?? "").replace(/\\\s*\n/g, " ").replace(/\s+/g, " ").trim()}`;

/** A RUN's shell script as Docker hands it to /bin/sh: comment lines inside it dropped, with each line's Dockerfile line. */
function runScript(run: Run, document: string[], comments: ReadonlySet<number>): { text: string; lines: number[] } {
    const heredoc = run.getHeredocs()[0]?.getContentRange();
    const range = heredoc ?? run.getArgumentsRange();
    const kept: { text: string; line: number }[] = [];
    if (range) {
        for (let row = range.start.line; row <= range.end.line; row++) {
            if (comments.has(row)) continue;
            const from = row === range.start.line ? range.start.character : 0;
            const to = row === range.end.line ? range.end.character : undefined;
            kept.push({ text: document[row].slice(from, to), line: row + 1 });
        }
    }
    // BuildKit flags (`--mount=...`) precede the command in the arguments' range.
    const text = kept.map((k) => k.text).join("\n").replace(/^(\s*--[\w-]+=\S*\s+)+/, "");
    return { text, lines: kept.map((k) => k.line) };
}

/** Options of the package tools that take a value (the next word is not a package). */
const VALUE_OPTIONS: Readonly<Record<string, readonly string[]>> = {
    "apt-get": ["-o", "-t", "-c", "--option", "--target-release", "--config-file"],
    apt: ["-o", "-t", "-c", "--option", "--target-release", "--config-file"],
    apk: ["-t", "--virtual", "-X", "--repository", "-p", "--root", "--arch", "--cache-dir", "--keys-dir"],
};
const INSTALL_VERB: Readonly<Record<string, string>> = { "apt-get": "install", apt: "install", apk: "add" };

function installsIn(script: { text: string; lines: number[] }): DockerfileFacts["installs"] {
    const found: { line: number; tool: string; packages: string[] }[] = [];
    for (const command of commands(parseShell(script.text))) {
        const tool = commandName(command.words[0]);
        if (!(tool in INSTALL_VERB)) continue;
        const words: string[] = [];
        for (let i = 1; i < command.words.length; i++) {
            const word = command.words[i];
            if (word === undefined) continue;
            if (VALUE_OPTIONS[tool].includes(word)) i++;
            else if (!word.startsWith("-")) words.push(word);
        }
        if (words[0] === INSTALL_VERB[tool]) found.push({ line: script.lines[command.row] ?? script.lines[0], tool, packages: words.slice(1) });
    }
    return found;
}

export function readDockerfile(text: string): DockerfileFacts {
    const dockerfile = DockerfileParser.parse(text);
    const document = text.split(/\r?\n/);
    const comments = new Set(dockerfile.getComments().map((c) => c.getRange().start.line));
    const stages = imageStages(dockerfile.getInstructions());
    const all = stages.flat();
    const last = <T extends Instruction>(kind: new (...args: never[]) => T): T | undefined => all.filter((i): i is T => i instanceof kind).pop();
    const located = <T>(instruction: Instruction | undefined, value: T | undefined, keyword: string): Located<T> | undefined =>
        instruction && value !== undefined ? { value, line: line(instruction), shown: `${keyword} ${shownArgs(instruction)}` } : undefined;

    const env = all
        .filter((i): i is Env => i instanceof Env)
        .flatMap((i) =>
            i.getProperties().map((p) => {
                const range = p.getRange();
                const rows = document.slice(range.start.line, range.end.line + 1);
                rows[rows.length - 1] = rows[rows.length - 1].slice(0, range.end.character);
                rows[0] = rows[0].slice(range.start.character);
                const shown = rows.join(" ");
                return { value: { name: p.getName(), value: p.getValue() ?? "" }, line: p.getNameRange().start.line + 1, shown: `ENV ${shown.replace(/\s+/g, " ")}` };
            }),
        );
    const cmd = last(Cmd);
    const entrypoint = last(Entrypoint);
    const user = all.filter((i) => i.getKeyword() === "USER").pop();
    const workdir = all.filter((i) => i.getKeyword() === "WORKDIR").pop();
    const image: ImageConfig = {
        source: FILES.dockerfile,
        env,
        cmd: located(cmd, cmd && argv(cmd), "CMD"),
        entrypoint: located(entrypoint, entrypoint && argv(entrypoint), "ENTRYPOINT"),
        user: located(user, user?.getArgumentsContent()?.trim(), "USER"),
        workdir: located(workdir, workdir?.getArgumentsContent()?.trim(), "WORKDIR"),
    };
    const installs = all.filter((i): i is Run => i instanceof Run).flatMap((run) => installsIn(runScript(run, document, comments)));
    return { image, installs };
}

/** The sqlite3 command line the pre-deploy backup runs: Debian's package sqlite3, Alpine's sqlite. */
const SQLITE_PACKAGES: Readonly<Record<string, string>> = { "apt-get": "sqlite3", apt: "sqlite3", apk: "sqlite" };

export function checkSqlite(facts: DockerfileFacts, report: Report): void {
    const installs = facts.installs;
    const has = installs.some(({ tool, packages }) => packages.some((p) => p.split(/[=~<>]/)[0] === SQLITE_PACKAGES[tool]));
    if (has) return;
    const why = "the pre-deploy database backup runs sqlite3 from the app image";
    const lastInstall = [...installs].sort((a, b) => a.line - b.line).pop();
    if (lastInstall) {
        const verb = lastInstall.tool === "apk" ? "apk add" : `${lastInstall.tool} install`;
        report.add(FILES.dockerfile, lastInstall.line, `the image installs no sqlite3 (this ${verb} has ${lastInstall.packages.join(" ") || "no packages"}); ${why}: add ${SQLITE_PACKAGES[lastInstall.tool]} here`);
    } else {
        report.add(FILES.dockerfile, undefined, `the image installs no sqlite3; ${why}: add RUN apt-get update -qq && apt-get install --no-install-recommends -y sqlite3 to its base stage`);
    }
}

