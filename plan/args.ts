// The command-line arguments of the plan's CLIs (npm run plan, npm run capacity): --stack, and the
// flags each takes of --out and --set key=value. The doctor takes --set the same way.
import { stackKind } from "../config/parse";

export type Flag = "--stack" | "--out" | "--set";

export interface Args {
    readonly stack: string;
    readonly out?: string;
    readonly overrides: Readonly<Record<string, string>>;
}

/** A --set value as [key, value], or the one line that says what is wrong with it. */
export function parseSetting(value: string): readonly [string, string] | string {
    const split = value.indexOf("=");
    if (split < 0) return `--set ${value}: missing '=value' (write --set ${value}=value)`;
    if (split === 0) return `--set ${value}: missing key (write --set key${value})`;
    return [value.slice(0, split), value.slice(split + 1)];
}

/** The arguments, or the one line that says what is wrong with them (the stack name's rule included). */
export function parseArgs(argv: readonly string[], flags: readonly Flag[]): Args | string {
    const overrides: Record<string, string> = {};
    let stack: string | undefined;
    let out: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (!arg.startsWith("--")) return `unexpected argument ${JSON.stringify(arg)}; flags are ${flags.join(", ")}`;
        // --flag=value is read as --flag value.
        const eq = arg.indexOf("=");
        const flag = eq < 0 ? arg : arg.slice(0, eq);
        if (!(flags as readonly string[]).includes(flag)) return `unknown flag ${flag}`;
        const value = eq < 0 ? argv[i + 1] : arg.slice(eq + 1);
        if (eq < 0) {
            if (value === undefined || value.startsWith("--")) return `${flag}: missing value`;
            i++;
        }
        if (value === "") return `${flag}: missing value`;
        if (flag === "--stack") stack = value;
        else if (flag === "--out") out = value;
        else {
            const setting = parseSetting(value);
            if (typeof setting === "string") return setting;
            overrides[setting[0]] = setting[1];
        }
    }
    if (!stack) return "--stack is required";
    // The stack name's rule comes before any file is looked for: a missing file is no news to
    // someone who mistyped the name.
    const kind = stackKind(stack);
    return "error" in kind ? kind.error : { stack, out, overrides };
}
