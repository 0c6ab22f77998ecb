// Shell scripts on a real parser: tree-sitter's Bash grammar (tree-sitter-bash) finds commands and the
// conditions around them; real Bash decides each test against the container's arguments, so test
// semantics (`${@: -2:1}`, word splitting in `[`, patterns in `[[`) are Bash's own.
import { spawnSync } from "child_process";
import * as path from "path";
import Parser, { SyntaxNode } from "tree-sitter";
import Bash from "tree-sitter-bash";

let parser: Parser | undefined;

/** The script's syntax tree; `hasError` on the root when Bash would not parse it either. */
export function parseShell(script: string): SyntaxNode {
    if (!parser) {
        parser = new Parser();
        // tree-sitter-bash's typings describe its binding object, which is what setLanguage takes.
        parser.setLanguage(Bash as unknown as Parser.Language);
    }
    return parser.parse(script).rootNode;
}

/** A word's value when it expands nothing (`sqlite3`, `"sqlite3"`, `'sqlite3'`), else undefined. */
export function literal(node: SyntaxNode): string | undefined {
    switch (node.type) {
        case "word":
        case "number":
            return node.text.replace(/\\(.)/g, "$1");
        case "raw_string":
            return node.text.slice(1, -1);
        case "string":
            return node.namedChildren.every((c) => c.type === "string_content") ? node.namedChildren.map((c) => c.text).join("") : undefined;
        case "command_name":
            return node.namedChildren.length === 1 ? literal(node.namedChildren[0]) : undefined;
        case "concatenation": {
            const parts = node.namedChildren.map(literal);
            return parts.every((p): p is string => p !== undefined) ? parts.join("") : undefined;
        }
        default:
            return undefined;
    }
}

/** A simple command: its name and arguments as literals (undefined where a word expands something). */
export interface Command {
    readonly node: SyntaxNode;
    /** 0-based row in the parsed text. */
    readonly row: number;
    readonly words: readonly (string | undefined)[];
}

export function commands(root: SyntaxNode): Command[] {
    return root.descendantsOfType("command").map((node) => {
        const name = node.childForFieldName("name");
        const args = node.childrenForFieldName("argument");
        return { node, row: node.startPosition.row, words: [name ? literal(name) : undefined, ...args.map(literal)] };
    });
}

export const commandName = (word: string | undefined): string => path.posix.basename(word ?? "");

// --- conditions ---------------------------------------------------------------------------------

/** true/false as Bash decides, or the test the doctor does not evaluate. */
export type Verdict = boolean | { readonly unknown: string };

/** A condition that must be true (want) or false for a command to run, with the row it starts on. */
export interface Requirement {
    readonly row: number;
    readonly condition: string;
    readonly nodes: readonly SyntaxNode[];
    readonly want: boolean;
}

const conditionsOf = (node: SyntaxNode): SyntaxNode[] => node.childrenForFieldName("condition").filter((c) => c.isNamed);

/** The if/elif/else branches and `a && b` / `a || b` lists a command sits in, outermost first. */
export function requirementsOf(node: SyntaxNode): Requirement[] {
    const levels: Requirement[][] = [];
    const requirement = (nodes: SyntaxNode[], want: boolean): Requirement => {
        const text = nodes[0].tree.rootNode.text.slice(nodes[0].startIndex, nodes[nodes.length - 1].endIndex);
        return { row: nodes[0].startPosition.row, condition: text.replace(/\s+/g, " ").trim(), nodes, want };
    };
    for (let child = node, parent = node.parent; parent; child = parent, parent = parent.parent) {
        if (parent.type === "list" && parent.namedChildren[1]?.id === child.id) {
            const operator = parent.children.find((c) => !c.isNamed)?.type;
            levels.unshift([requirement([parent.namedChildren[0]], operator === "&&")]);
        } else if (parent.type === "if_statement") {
            if (conditionsOf(parent).some((c) => c.id === child.id)) continue;
            const clauses = parent.namedChildren.filter((c) => c.type === "elif_clause" || c.type === "else_clause");
            const branch = clauses.findIndex((c) => c.id === child.id);
            const branches = [conditionsOf(parent), ...clauses.filter((c) => c.type === "elif_clause").map(conditionsOf)].filter((b) => b.length > 0);
            // The branch that holds the command: every earlier condition false, its own true.
            const held = branch < 0 ? 0 : clauses[branch].type === "else_clause" ? branches.length : branch + 1;
            levels.unshift(branches.slice(0, held + 1).map((nodes, i) => requirement(nodes, i === held)));
        }
    }
    return levels.flat();
}

/** Each test is decided by Bash with `$0` and `"$@"` as the container passes them. */
export function evaluate(nodes: readonly SyntaxNode[], argv0: string, argv: readonly string[]): Verdict {
    if (nodes.length !== 1) return { unknown: nodes.map((n) => n.text).join("; ") };
    const node = nodes[0];
    switch (node.type) {
        case "test_command":
            return evaluable(node) ? bashTest(node.text, argv0, argv) : { unknown: node.text };
        case "negated_command": {
            const inner = evaluate(node.namedChildren, argv0, argv);
            return typeof inner === "boolean" ? !inner : inner;
        }
        case "list": {
            const [left, right] = node.namedChildren.map((n) => evaluate([n], argv0, argv));
            const and = node.children.find((c) => !c.isNamed)?.type === "&&";
            // The deciding value wins even beside a test the doctor does not evaluate.
            if (left === !and || right === !and) return !and;
            return typeof left === "object" ? left : typeof right === "object" ? right : and;
        }
        default:
            return { unknown: node.text };
    }
}

/** Node kinds a test may contain for Bash to decide it here: literals and the positional parameters. */
const LITERAL_KINDS = new Set([
    "test_command", "binary_expression", "unary_expression", "parenthesized_expression", "test_operator",
    "string", "string_content", "raw_string", "word", "number", "extglob_pattern", "concatenation", "regex",
]);

/** Only `$1`..`$9`, `$@`, `$*`, `$#`, and `${@: offset:length}` expand: nothing else the container's environment decides. */
function evaluable(node: SyntaxNode): boolean {
    if (!node.isNamed) return true;
    if (node.type === "simple_expansion" || node.type === "expansion") {
        const names = node.namedChildren;
        const name = names[0];
        const positional = name && ((name.type === "variable_name" && /^[1-9]$/.test(name.text)) || (name.type === "special_variable_name" && ["@", "*", "#"].includes(name.text)));
        const operators = node.children.filter((c) => !c.isNamed).map((c) => c.type);
        // `${@:-2:1}` (no space) is Bash's default-value operator, not an offset: not evaluated.
        return !!positional && names.slice(1).every((n) => n.type === "number") && operators.every((t) => ["$", "${", "}", ":"].includes(t));
    }
    return LITERAL_KINDS.has(node.type) && node.children.every(evaluable);
}

const decided = new Map<string, boolean>();

function bashTest(test: string, argv0: string, argv: readonly string[]): Verdict {
    const key = JSON.stringify([test, argv0, argv]);
    const known = decided.get(key);
    if (known !== undefined) return known;
    // No rc files, no environment but PATH: the test sees only its literals and the arguments.
    const run = spawnSync("bash", ["--norc", "--noprofile", "-c", test, argv0, ...argv], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdio: "ignore" });
    if (run.error || run.status === null) return { unknown: test };
    decided.set(key, run.status === 0);
    return run.status === 0;
}
