// Entry of the stand-in executables in test/stand-ins/bin: `node launch.js test/stand-ins/main <tool> ...`.
import { main as gh } from "./gh";
import { main as pulumi } from "./pulumi";

const tool = process.argv.splice(2, 1)[0];
const tools: Record<string, () => void> = { gh, pulumi };
if (!tools[tool]) throw new Error(`no stand-in named ${tool}`);
tools[tool]();
