// Where the project's own files are: code runs from bin/ after compilation, while static files
// (scripts embedded in user-data or copied into the Kamal set) stay in the source tree.
import * as fs from "fs";
import * as path from "path";

/** The directory holding Pulumi.yaml. */
export const PROJECT_ROOT = ((): string => {
    for (let dir = __dirname; ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
        if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml above ${__dirname}`);
    }
})();

/** A file of the project, by its path relative to the project root. */
export const projectFile = (relativePath: string): string => fs.readFileSync(path.join(PROJECT_ROOT, relativePath), "utf8");
