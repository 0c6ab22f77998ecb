// Entry of the stand-in executables in test/stand-ins/bin: `node launch.js test/stand-ins/main <tool> ...`.
import { main as gh } from "./gh";
import { main as pulumi } from "./pulumi";

const tool = process.argv.splice(2, 1)[0];
const tools: Record<string, () => void> = {
    gh,
    pulumi,
    // The drill's stand-in loads the real CLI and all it parses: only when asked for.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    "restore-drill": () => (require("./restore-drill") as typeof import("./restore-drill")).main(),
};
if (!tools[tool]) throw new Error(`no stand-in named ${tool}`);
tools[tool]();
