// launch.js defers the SDK's function-serializer tools (lib/sdk-deferral.ts). Each case runs in
// fresh node processes, with and without the deferral, and compares what the SDK does in both.
import * as grpc from "@grpc/grpc-js";
import { ResourceMonitorService } from "@pulumi/pulumi/proto/resource_grpc_pb";
import { RegisterResourceResponse, SupportsFeatureResponse } from "@pulumi/pulumi/proto/resource_pb";
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFERRED_REQUIRES } from "../lib/sdk-deferral";
import { ROOT } from "./support";

const SDKS = ["@pulumi/pulumi", "@pulumi/hcloud", "@pulumi/cloudflare", "@pulumi/tailscale", "@pulumi/command"];
/**
 * The modules the deferral keeps out of start-up, by a file each loads. TypeScript by the SDK's
 * shim for it: ts-node, which runs these processes, loads TypeScript itself.
 */
const TOOLS: Readonly<Record<string, string>> = {
    typescript: "/node_modules/@pulumi/pulumi/typescript-shim.js",
    "@npmcli/arborist": "/node_modules/@npmcli/arborist/",
    "normalize-package-data": "/node_modules/normalize-package-data/",
};
/** JavaScript for a child process: `toolsLoaded()`, the names of TOOLS its module cache holds. */
const TOOLS_LOADED = `const toolsLoaded = () => Object.entries(${JSON.stringify(TOOLS)})
    .filter(([, marker]) => Object.keys(require.cache).some((file) => file.includes(marker))).map(([name]) => name);`;
const SDK_ROOT = path.dirname(require.resolve("@pulumi/pulumi/package.json"));

/** Runs `body` (an async function body returning JSON-able data) in a new node process. */
function inNode(deferred: boolean, body: string): Promise<unknown> {
    const script = `
        ${deferred ? 'require("./lib/sdk-deferral").deferSerializerTools();' : ""}
        ${TOOLS_LOADED}
        (async () => { ${body} })().then((result) => process.stdout.write(JSON.stringify(result)));`;
    return new Promise((resolve, reject) =>
        execFile(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: ROOT, encoding: "utf8" }, (err, stdout, stderr) =>
            err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
        ),
    );
}

/**
 * The engine's resource monitor as far as Pulumi's language host (cmd/run) talks to it before it
 * loads the program: it asks which features the monitor supports (answered "none", as an engine
 * older than all of them would, which the SDK handles) and registers the stack's root resource
 * (pulumi/pulumi proto/pulumi/resource.proto, ResourceMonitor). Every other call is UNIMPLEMENTED.
 */
async function startMonitor(): Promise<{ address: string; stop: () => void }> {
    const server = new grpc.Server();
    server.addService(ResourceMonitorService, {
        supportsFeature: (_call: unknown, reply: grpc.sendUnaryData<SupportsFeatureResponse>) => reply(null, new SupportsFeatureResponse().setHassupport(false)),
        registerResource: (call: grpc.ServerUnaryCall<{ getType(): string; getName(): string }, RegisterResourceResponse>, reply: grpc.sendUnaryData<RegisterResourceResponse>) =>
            reply(null, new RegisterResourceResponse().setUrn(`urn:pulumi:pr-7::rails-stack::${call.request.getType()}::${call.request.getName()}`)),
    });
    const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** The same body with and without the deferral, side by side. */
const both = (body: string): Promise<[unknown, unknown]> => Promise.all([inNode(true, body), inNode(false, body)]);

describe("the SDK's serializer tools, loaded on first use (lib/sdk-deferral.ts)", () => {
    it("are still what the SDK requires at import, where the deferral expects them", () => {
        for (const { from, request } of DEFERRED_REQUIRES) {
            const source = fs.readFileSync(path.join(SDK_ROOT, from), "utf8");
            assert.ok(source.includes(`require("${request}")`), `@pulumi/pulumi/${from} no longer requires ${request}: update DEFERRED_REQUIRES`);
        }
    });

    it("stay unloaded while the five SDKs load, which without the deferral load them all", async () => {
        const [deferred, eager] = await both(`${JSON.stringify(SDKS)}.forEach((sdk) => require(sdk)); return toolsLoaded();`);
        assert.deepStrictEqual(deferred, []);
        assert.deepStrictEqual(eager, Object.keys(TOOLS));
    });

    it("serialize a function as they would loaded eagerly, TypeScript loading on that first use", async () => {
        const body = `
            const pulumi = require("@pulumi/pulumi");
            const before = toolsLoaded();
            const factor = 6;
            const serialized = await pulumi.runtime.serializeFunction((n) => n * factor);
            return { before, text: serialized.text, after: toolsLoaded() };`;
        const [deferred, eager] = (await both(body)) as { before: string[]; text: string; after: string[] }[];
        assert.deepStrictEqual(deferred.before, []);
        assert.ok(deferred.after.includes("typescript"), `TypeScript loaded on use: ${deferred.after.join(", ")}`);
        assert.match(deferred.text, /factor/);
        assert.strictEqual(deferred.text, eager.text);
    });

    it("compute a package's code paths as they would loaded eagerly (Arborist, normalize-package-data)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "code-paths-"));
        try {
            fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "fn", version: "1.0.0", dependencies: { leaf: "1.0.0" } }));
            fs.mkdirSync(path.join(dir, "node_modules", "leaf"), { recursive: true });
            fs.writeFileSync(path.join(dir, "node_modules", "leaf", "package.json"), JSON.stringify({ name: "leaf", version: "1.0.0" }));
            fs.writeFileSync(path.join(dir, "node_modules", "leaf", "index.js"), "module.exports = 1;\n");
            const body = `
                const pulumi = require("@pulumi/pulumi");
                process.chdir(${JSON.stringify(dir)});
                const paths = await pulumi.runtime.computeCodePaths();
                return { paths: [...paths.keys()].sort(), after: toolsLoaded() };`;
            const [deferred, eager] = (await both(body)) as { paths: string[]; after: string[] }[];
            assert.deepStrictEqual(deferred.paths, ["node_modules/leaf"]);
            assert.deepStrictEqual(deferred.paths, eager.paths);
            for (const tool of ["@npmcli/arborist", "normalize-package-data"]) assert.ok(deferred.after.includes(tool), `${tool} loaded on use`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("stay unloaded when Pulumi's language host runs the program: launch.js defers them before the program loads the SDK", async () => {
        const monitor = await startMonitor();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "language-host-"));
        try {
            // The program as Pulumi.yaml names it (launch.js); without config it stops at loadConfig,
            // after index.ts has imported all five SDKs, and the probe reports what was loaded.
            const probe = path.join(dir, "probe.js");
            fs.writeFileSync(
                probe,
                `${TOOLS_LOADED}
                const beforeProgram = toolsLoaded();
                let stopped = "";
                try { require(${JSON.stringify(path.join(ROOT, "launch.js"))}); } catch (err) { stopped = err.message.split("\\n")[0]; }
                const sdks = ${JSON.stringify(SDKS)}.filter((sdk) => Object.keys(require.cache).some((f) => f.endsWith("/node_modules/" + sdk + "/index.js")));
                process.stdout.write(JSON.stringify({ beforeProgram, afterProgram: toolsLoaded(), sdks, stopped }));
                process.exit(0);\n`,
            );
            const host = path.join(SDK_ROOT, "cmd", "run", "index.js");
            const stdout = await new Promise<string>((resolve, reject) =>
                execFile(process.execPath, [host, `--monitor=${monitor.address}`, "--project=rails-stack", "--stack=pr-7", `--root-directory=${ROOT}`, probe], { cwd: ROOT, encoding: "utf8" }, (err, out, stderr) =>
                    err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
                ),
            );
            const report = JSON.parse(stdout) as { beforeProgram: string[]; afterProgram: string[]; sdks: string[]; stopped: string };
            assert.deepStrictEqual(report.beforeProgram, [], "the language host itself loads none of them");
            assert.deepStrictEqual(report.sdks, SDKS, "the program loaded every SDK");
            assert.match(report.stopped, /invalid stack config/);
            assert.deepStrictEqual(report.afterProgram, []);
        } finally {
            monitor.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("leave the offline plan of a stack unchanged", async () => {
        const body = `
            const { runPlan, stackConfigFromFiles } = require("./plan/run");
            const result = await runPlan("pr-7", stackConfigFromFiles(process.cwd(), "pr-7", {}), { readCommit: () => ({ version: "v1" }) });
            if (!result.ok) throw new Error(result.errors.join("\\n"));
            return { entries: result.entries, artifacts: result.artifacts, tools: toolsLoaded() };`;
        const [deferred, eager] = (await both(body)) as { entries: unknown[]; artifacts: unknown; tools: string[] }[];
        assert.deepStrictEqual(deferred.tools, []);
        assert.ok(deferred.entries.length > 20, `a whole plan: ${deferred.entries.length} resources`);
        assert.deepStrictEqual(deferred.entries, eager.entries);
        assert.deepStrictEqual(deferred.artifacts, eager.artifacts);
    });
});
