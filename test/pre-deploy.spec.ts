// The pre-deploy hook of the Kamal set: the command it sends to the host, and the backup script
// it feeds there, run for real (Debian's sqlite3) against a database on a stand-in volume.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { KAMAL_FILES } from "../renderers/kamal";
import { haveTool, planFor } from "./support";

/**
 * An SSH stand-in for the host: answers `docker image inspect` of the deployed tag with
 * FAKE_REPO_DIGESTS (Docker's RepoDigests), checks the `docker run` the hook asks for, then runs the
 * script it receives on stdin with the container's storage path mapped to a local directory.
 */
const FAKE_SSH = `#!/bin/bash
set -eu
cmd="\${@: -1}"
printf '%s\\n' "$cmd" >>"$FAKE_LOG"
eval "set -- $cmd"
if [ "$1 $2" = "docker image" ]; then
    [ "\${*: -1}" = "ghcr.io/acme/shop:$KAMAL_VERSION" ] || { echo "unexpected: $*" >&2; exit 97; }
    printf '%s\\n' \${FAKE_REPO_DIGESTS:-}
    exit 0
fi
expected="docker run --rm --interactive --network none --user 1000:1000 --volume /mnt/storage:/rails/storage --entrypoint /bin/sh ghcr.io/acme/shop:$KAMAL_VERSION -s -- /rails/storage"
[ "\${*:1:16}" = "$expected" ] || { echo "unexpected: $*" >&2; exit 97; }
shift 16
exec sh -s -- "$FAKE_STORAGE" "$@"
`;

describe("pre-deploy hook: a consistent, pruned copy of the primary database", function () {
    let tmp: string;
    let dir: string;
    let storage: string;

    before(async function () {
        if (!haveTool("sqlite3", ["-version"])) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pre-deploy-"));
        dir = path.join(tmp, "set");
        storage = path.join(tmp, "storage");
        fs.mkdirSync(storage);
        const plan = await planFor("staging", { deployBackups: "2" });
        for (const [file, text] of Object.entries(plan.artifacts).filter(([f]) => f.startsWith("kamal/"))) {
            const target = path.join(dir, file.slice("kamal/".length));
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, text, { mode: 0o700 });
        }
        fs.mkdirSync(path.join(tmp, "bin"));
        fs.writeFileSync(path.join(tmp, "bin", "ssh"), FAKE_SSH, { mode: 0o755 });
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    function hook(version: string, set = dir, env: Record<string, string> = {}): { status: number | null; output: string } {
        const run = spawnSync(path.join(set, KAMAL_FILES.preDeployHook), [], {
            encoding: "utf8",
            env: { PATH: `${path.join(tmp, "bin")}:${process.env.PATH}`, KAMAL_VERSION: version, FAKE_LOG: path.join(tmp, "ssh.log"), FAKE_STORAGE: storage, ...env },
        });
        return { status: run.status, output: `${run.stdout}${run.stderr}` };
    }
    const copies = () => fs.readdirSync(path.join(storage, "backups", "pre-deploy")).sort();

    it("does nothing on the first deploy, when there is no database yet", () => {
        const run = hook("v1");
        assert.strictEqual(run.status, 0, run.output);
        assert.match(run.output, /no staging\.sqlite3 yet \(first deploy\); nothing to copy/);
    });

    it("copies the database with its data, names the copy by time and version, and keeps the newest 2", () => {
        const db = path.join(storage, "staging.sqlite3");
        execFileSync("sqlite3", [db, "PRAGMA journal_mode=WAL; CREATE TABLE orders(id INTEGER PRIMARY KEY, total INT); INSERT INTO orders(total) VALUES (42);"]);
        for (const version of ["v2", "v3", "v4"]) {
            // Distinct timestamps: the stamp has one-second resolution.
            if (version !== "v2") execFileSync("sleep", ["1.05"]);
            const run = hook(version);
            assert.strictEqual(run.status, 0, run.output);
            assert.match(run.output, new RegExp(`copied staging\\.sqlite3 to /.*/staging-\\d{8}T\\d{6}Z-${version}\\.sqlite3`));
        }
        const kept = copies();
        assert.strictEqual(kept.length, 2);
        assert.deepStrictEqual(kept.map((f) => f.replace(/^staging-\d{8}T\d{6}Z-/, "")), ["v3.sqlite3", "v4.sqlite3"]);
        for (const copy of kept) {
            const file = path.join(storage, "backups", "pre-deploy", copy);
            assert.strictEqual(execFileSync("sqlite3", [file, "PRAGMA integrity_check; SELECT total FROM orders;"], { encoding: "utf8" }), "ok\n42\n");
        }
        execFileSync("sleep", ["1.05"]);
        assert.match(hook("v5").output, /pruned .*-v3\.sqlite3/);
        const log = fs.readFileSync(path.join(tmp, "ssh.log"), "utf8");
        assert.ok(!log.includes("'"), "the remote command needs no quoting beyond %q");
    });

    it("fails the deploy, before anything changed, when the copy cannot be made", () => {
        fs.writeFileSync(path.join(storage, "staging.sqlite3"), "not a database");
        const run = hook("v7");
        assert.notStrictEqual(run.status, 0);
        assert.match(run.output, /pre-deploy: copying staging\.sqlite3 on shop-staging-web-1 failed; the deploy stops before anything changed/);
    });

    it("with appImageDigest, boots only the image pulled as that digest: a moved tag stops it before the copy", async () => {
        const reviewed = `sha256:${"a".repeat(64)}`;
        const pinned = path.join(tmp, "pinned-set");
        const plan = await planFor("staging", { buildImage: "false", appVersion: "v8", appImageDigest: reviewed });
        for (const [file, text] of Object.entries(plan.artifacts).filter(([f]) => f.startsWith("kamal/"))) {
            const target = path.join(pinned, file.slice("kamal/".length));
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, text, { mode: 0o700 });
        }
        fs.rmSync(path.join(storage, "staging.sqlite3"), { force: true });
        const log = path.join(tmp, "ssh.log");
        const cases: [string, number, RegExp][] = [
            [`mirror.example/shop@sha256:${"0".repeat(64)} ghcr.io/acme/shop@${reviewed}`, 0, /pre-deploy: ghcr\.io\/acme\/shop:v8 on shop-staging-web-1 is sha256:a{64}, as reviewed/],
            [`ghcr.io/acme/shop@sha256:${"b".repeat(64)}`, 1, /pre-deploy: ghcr\.io\/acme\/shop:v8 on shop-staging-web-1 was pulled as ghcr\.io\/acme\/shop@sha256:b{64}, not appImageDigest sha256:a{64}: the tag moved since review; the deploy stops before anything boots/],
            ["", 1, /was pulled as an image without a registry digest, not appImageDigest/],
        ];
        for (const [repoDigests, status, message] of cases) {
            fs.writeFileSync(log, "");
            const run = hook("v8", pinned, { FAKE_REPO_DIGESTS: repoDigests });
            assert.strictEqual(run.status, status, run.output);
            assert.match(run.output, message);
            const commands = fs.readFileSync(log, "utf8").trim().split("\n");
            assert.strictEqual(commands.length, status === 0 ? 2 : 1, "refused: nothing but the inspect reached the host");
        }
    });
});
