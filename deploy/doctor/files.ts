// Where the doctor reads the app: the checkout's working tree, or a commit of it (what Kamal deploys
// with buildImage: false). Paths are relative to the app's root.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { STORAGE_CONTAINER_PATH } from "../../lib/paths";

/** The app's files by path relative to its root; undefined when the file is missing. */
export interface AppFiles {
    read(relativePath: string): string | undefined;
}

export const FILES = {
    dockerfile: "Dockerfile",
    entrypoint: "bin/docker-entrypoint",
    database: "config/database.yml",
    storage: "config/storage.yml",
    gemfileLock: "Gemfile.lock",
    environment: (railsEnv: string): string => `config/environments/${railsEnv}.rb`,
} as const;

/** Rails.root in the image (WORKDIR /rails): database.yml's relative paths start here. */
export const APP_ROOT = path.posix.dirname(STORAGE_CONTAINER_PATH);

export function workingTree(dir: string): AppFiles {
    return {
        read: (relativePath) => {
            const file = path.join(dir, relativePath);
            return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
        },
    };
}

const git = (dir: string, args: readonly string[]) => spawnSync("git", ["-C", dir, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });

/** The full commit a version (tag, branch or SHA) names in the checkout, or why there is none. */
export function commitOf(dir: string, version: string): { commit: string } | { problem: string } {
    const run = git(dir, ["rev-parse", "--verify", "--quiet", `${version}^{commit}`]);
    if (run.error) return { problem: `git is not installed (${run.error.message})` };
    if (run.status === 0) return { commit: run.stdout.trim() };
    return { problem: `appVersion ${version} is not a commit of the checkout ${dir}: fetch it (git fetch --tags), or set appVersion to a commit or tag that exists there` };
}

/** The files as committed at `commit` (`git show <commit>:./<path>`), not as the working tree has them. */
export function atCommit(dir: string, commit: string): AppFiles {
    return {
        read: (relativePath) => {
            const run = git(dir, ["show", `${commit}:./${relativePath}`]);
            return run.status === 0 ? run.stdout : undefined;
        },
    };
}
