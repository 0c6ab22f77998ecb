// `npm run docs`: rewrites Pulumi.yaml and the README config table from config/keys.ts.
import * as fs from "fs";
import * as path from "path";
import { renderPulumiYaml, withConfigTable } from "./docs";

const ROOT = path.resolve(__dirname, "..", "..");
fs.writeFileSync(path.join(ROOT, "Pulumi.yaml"), renderPulumiYaml());
const readmePath = path.join(ROOT, "README.md");
fs.writeFileSync(readmePath, withConfigTable(fs.readFileSync(readmePath, "utf8")));
process.stdout.write("wrote Pulumi.yaml and the README config table\n");
