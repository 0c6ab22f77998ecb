// Which version of the app a stack deploys: the configured appVersion, or else the commit checked
// out in appDir. Read once per program run (a local `git rev-parse`, no network), so a new commit
// shows up in `pulumi preview` as a new deploy. git runs beside the program, which goes on
// registering resources meanwhile; only the deploy step waits for the answer.
import { execFile } from "child_process";
import * as path from "path";
import type { Settings } from "../config/settings";
import { PROJECT_ROOT } from "./project";

/** The version to deploy, or why there is none (reported by the deploy step, with its path). */
export type AppVersion = { readonly version: string } | { readonly problem: string };

/** Reads the commit checked out in a directory. */
export type CommitReader = (absoluteDir: string) => AppVersion | PromiseLike<AppVersion>;

/** The app's checkout as an absolute path: relative settings are relative to the project. */
export const appDirPath = (appDir: string): string => path.resolve(PROJECT_ROOT, appDir);

/** `git rev-parse --verify HEAD` in the directory. */
export const readCheckoutCommit: CommitReader = (dir) =>
    new Promise((resolve) =>
        execFile("git", ["-C", dir, "rev-parse", "--verify", "--quiet", "HEAD"], { encoding: "utf8" }, (err, stdout) => {
            if (!err) resolve({ version: stdout.trim() });
            // A string code is the spawn's own failure (ENOENT); a number is git's exit status.
            else if (typeof err.code === "string") resolve({ problem: `cannot read the app's commit: git is not installed (${err.message}); set rails-stack:appVersion` });
            else resolve({ problem: `cannot read the app's commit in ${dir} (rails-stack:appDir): not an existing git checkout with a commit; fix appDir or set rails-stack:appVersion` });
        }),
    );

export async function resolveAppVersion(deploy: Settings["deploy"], readCommit: CommitReader): Promise<AppVersion> {
    return deploy.appVersion !== undefined ? { version: deploy.appVersion } : readCommit(appDirPath(deploy.appDir));
}
