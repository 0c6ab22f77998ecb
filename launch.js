// Runs the compiled program (bin/), compiling first when a TypeScript source is newer than the
// last build. Pulumi loads this file (Pulumi.yaml `main`), so a preview pays for compilation only
// after an edit, never for ts-node on every run. `node launch.js <module> [args]` runs bin/<module>.js;
// `node launch.js` alone only builds.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const root = __dirname;
const stamp = path.join(root, "bin", ".built");
const sourceDirs = ["admin", "config", "lib", "renderers", "components", "cloud-init", "deploy", "plan", "policy", "pricing", "test"];
// Only the tests import test/, and they run from source (ts-node): a program or CLI need not look
// there, and test/ is mostly data (golden files, fixture apps) to walk. `node launch.js` alone
// (npm run build, before the tests) checks everything.
const target = require.main === module ? process.argv[2] : "index";
const checkedDirs = target === undefined || target.startsWith("test/") ? sourceDirs : sourceDirs.filter((d) => d !== "test");

function newestSource() {
    let newest = Math.max(...["index.ts", "program.ts", "tsconfig.json"].map((f) => fs.statSync(path.join(root, f)).mtimeMs));
    const walk = (dir) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (entry.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(full).mtimeMs);
        }
    };
    for (const dir of checkedDirs) if (fs.existsSync(path.join(root, dir))) walk(path.join(root, dir));
    return newest;
}

const isBuilt = () => (fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0) >= newestSource();

function compile() {
    try {
        execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", root], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
        const message = `TypeScript compilation failed:\n${err.stdout}${err.stderr}`;
        if (require.main !== module) throw new Error(message);
        process.stderr.write(message);
        process.exit(1);
    }
    fs.writeFileSync(stamp, "");
}

// Launchers may start together (the tests' parallel workers, a deploy step beside a preview): one
// compiles while the others wait, so none loads a file of bin/ that tsc is still writing.
function ensureBuilt() {
    if (isBuilt()) return;
    const lock = path.join(root, "bin", ".build-lock");
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
        try {
            fs.mkdirSync(lock);
            break;
        } catch (err) {
            if (err.code !== "EEXIST") throw err;
        }
        // Older than any compilation takes: left by a launcher that was killed.
        if (Date.now() - fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 300000) fs.rmSync(lock, { recursive: true, force: true });
        Atomics.wait(pause, 0, 0, 100);
        if (isBuilt()) return;
    }
    try {
        if (!isBuilt()) compile();
    } finally {
        fs.rmSync(lock, { recursive: true, force: true });
    }
}

ensureBuilt();
// Before anything loads Pulumi's SDK: its function serializer's tools load on first use (lib/sdk-deferral.ts).
require("./bin/lib/sdk-deferral.js").deferSerializerTools();
if (require.main === module) {
    process.argv.splice(2, 1);
    if (target) require(path.join(root, "bin", target));
} else {
    module.exports = require("./bin/index.js");
}
