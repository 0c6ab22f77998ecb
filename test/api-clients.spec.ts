// The delete-time API clients beyond their existing specs (edge.spec.ts, hosts.spec.ts): what the
// official Cloudflare client sends and retries, and that the Pulumi program never loads the clients.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as http from "http";
import type { AddressInfo } from "net";
import { cleanTunnelConnections } from "../lib/tunnel-connections";
import { ROOT } from "./support";

/** Cloudflare API v4's error envelope (developers.cloudflare.com/fundamentals/api/ "Make API calls": success, errors, messages, result). */
const envelope = (code: number, message: string) => ({ success: false, errors: [{ code, message }], messages: [], result: null });

describe("tunnel connections clean-up on the official Cloudflare client", () => {
    const ambient = { CLOUDFLARE_API_KEY: "AMBIENT-GLOBAL-KEY", CLOUDFLARE_EMAIL: "ops@example.com" };
    let server: http.Server;
    let seen: http.IncomingHttpHeaders[];
    let failures: number;

    beforeEach(async () => {
        seen = [];
        failures = 0;
        Object.assign(process.env, ambient);
        // Answers as the API does: 503 while `failures` last, 403 for any token but the stack's, 404 for another tunnel.
        server = http.createServer((req, res) => {
            seen.push(req.headers);
            const reply = (status: number, body: unknown): void => void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
            if (failures-- > 0) return reply(503, envelope(10013, "Service unavailable"));
            if (req.headers.authorization !== "Bearer CF-SECRET") return reply(403, envelope(10000, "Authentication error"));
            if (req.method !== "DELETE" || req.url !== "/client/v4/accounts/acc/cfd_tunnel/t-1/connections") return reply(404, envelope(7003, "Could not route to the requested resource"));
            return reply(200, { success: true, errors: [], messages: [], result: null });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    });
    afterEach(() => {
        server.close();
        for (const name of Object.keys(ambient)) delete process.env[name];
    });

    const env = (token: string, tunnel = "t-1") => ({
        CLOUDFLARE_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`,
        CLOUDFLARE_ACCOUNT_ID: "acc",
        CLOUDFLARE_TUNNEL_ID: tunnel,
        CLOUDFLARE_API_TOKEN: token,
    });

    it("sends the stack's token alone, never an ambient global API key, and retries Cloudflare's 5xx", async () => {
        failures = 2;
        const lines: string[] = [];
        await cleanTunnelConnections(env("CF-SECRET"), (l) => lines.push(l));
        assert.deepStrictEqual(lines, ["removed the connections of tunnel t-1"]);
        assert.strictEqual(seen.length, 3, "two 503s, then the answer");
        for (const headers of seen) {
            assert.strictEqual(headers.authorization, "Bearer CF-SECRET");
            assert.strictEqual(headers["x-auth-key"], undefined);
            assert.strictEqual(headers["x-auth-email"], undefined);
        }
    });

    it("a refused token or a tunnel already gone: one line each, no token in it", async () => {
        await assert.rejects(cleanTunnelConnections(env("WRONG-TOKEN"), () => undefined), (err: Error) => err.message === "cleaning up the connections of tunnel t-1 failed: HTTP 403");
        const lines: string[] = [];
        await cleanTunnelConnections(env("CF-SECRET", "t-gone"), (l) => lines.push(l));
        assert.deepStrictEqual(lines, ["tunnel t-gone does not exist; no connections to clean up"]);
        failures = 3;
        await assert.rejects(cleanTunnelConnections(env("CF-SECRET"), () => undefined), /failed: HTTP 503$/);
    });
});

describe("delete-time clients stay out of the Pulumi program", () => {
    it("planning a review stack (every clean-up step in it) loads neither aws4, fast-xml-parser nor cloudflare", () => {
        const script = `
            const { runPlan, stackConfigFromFiles } = require("./plan/run");
            runPlan("pr-7", stackConfigFromFiles(process.cwd(), "pr-7", {}), { readCommit: () => ({ version: "v1" }) }).then((r) => {
                if (!r.ok) throw new Error(r.errors.join("\\n"));
                const names = Object.keys(require.cache).map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(p)?.[1]).filter(Boolean);
                process.stdout.write(JSON.stringify({ deleteSteps: r.resources.filter((x) => x.inputs.delete).length, modules: [...new Set(names)] }));
            });`;
        const out = JSON.parse(execFileSync("node", ["-r", "ts-node/register/transpile-only", "-e", script], { cwd: ROOT, encoding: "utf8" })) as { deleteSteps: number; modules: string[] };
        assert.ok(out.deleteSteps >= 3, `the plan has the clean-ups (tailnet, tunnel, the backups emptier): ${out.deleteSteps}`);
        assert.ok(out.modules.includes("@pulumi/pulumi"), "the probe sees what the program loads");
        for (const client of ["aws4", "fast-xml-parser", "cloudflare"]) assert.ok(!out.modules.includes(client), `${client} loaded at start-up`);
    });
});
