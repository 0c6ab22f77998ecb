// The host's power steps around an update that powers the server off (lib/host-power.ts), run as
// the Commands run them (`node launch.js components/scripts/host-power <step>`) against a local
// fake of the Hetzner Cloud API that behaves like the real one where it matters
// (docs.hetzner.cloud): a bearer token or 401 `unauthorized`; `GET /servers?name=` lists matches;
// a `shutdown` action only sends an ACPI request (the action succeeds whether or not the guest
// reacts, so only the server's status tells); `poweron` starts it.
import * as assert from "assert";
import { execFile } from "child_process";
import { HcloudServer } from "../lib/hcloud-api";
import { HOST_POWER_ENV, powerOffChanges } from "../lib/host-power";
import { fakeJsonApi, FakeApi, ROOT } from "./support";

const TOKEN = "hcloud-test-token";

interface FakeServer {
    id: number;
    name: string;
    status: string;
    type: string;
    ipv4: boolean;
    /** Whether the guest reacts to an ACPI shutdown. */
    acpi: boolean;
}

const asApi = (s: FakeServer): HcloudServer =>
    ({ id: s.id, name: s.name, status: s.status, server_type: { name: s.type }, public_net: { ipv4: s.ipv4 ? { ip: "203.0.113.7" } : null } }) as HcloudServer;

/** A fake Hetzner API holding the given servers; status transitions advance one step per read. */
async function fakeHetzner(servers: FakeServer[]): Promise<FakeApi> {
    const error = (status: number, code: string, message: string): [number, unknown] => [status, { error: { code, message } }];
    return fakeJsonApi((method, url, authorization) => {
        if (authorization !== `Bearer ${TOKEN}`) return error(401, "unauthorized", "unable to authenticate");
        const { pathname, searchParams } = new URL(url, "http://x");
        if (method === "GET" && pathname === "/servers") {
            return [200, { servers: servers.filter((s) => s.name === searchParams.get("name")).map(asApi) }];
        }
        const match = /^\/servers\/(\d+)(?:\/actions\/(\w+))?$/.exec(pathname);
        const server = match && servers.find((s) => s.id === Number(match[1]));
        if (!server) return error(404, "not_found", "server not found");
        if (method === "GET" && !match![2]) {
            // One read later the transition has happened.
            if (server.status === "stopping") server.status = "off";
            else if (server.status === "starting") server.status = "running";
            return [200, { server: asApi(server) }];
        }
        if (method === "POST" && match![2] === "shutdown") {
            if (server.acpi && server.status === "running") server.status = "stopping";
            return [201, { action: { command: "shutdown_server", status: "running" } }];
        }
        if (method === "POST" && match![2] === "poweron") {
            if (server.status === "off") server.status = "starting";
            return [201, { action: { command: "start_server", status: "running" } }];
        }
        return error(400, "invalid_input", `no fake for ${method} ${pathname}`);
    });
}

/** Runs the step as its Command does, asynchronously: the fake API answers from this process. */
function runStep(api: FakeApi, step: string, target: { serverType: string; publicIpv4: boolean }, token = TOKEN): Promise<{ status: number; stdout: string; stderr: string }> {
    const env = {
        PATH: process.env.PATH,
        [HOST_POWER_ENV.token]: token,
        [HOST_POWER_ENV.endpoint]: api.url,
        [HOST_POWER_ENV.server]: "shop-production-web-1",
        [HOST_POWER_ENV.serverType]: target.serverType,
        [HOST_POWER_ENV.publicIpv4]: String(target.publicIpv4),
        [HOST_POWER_ENV.waitSeconds]: "1",
        [HOST_POWER_ENV.pollSeconds]: "0.2",
    };
    return new Promise((resolve) => {
        execFile(process.execPath, ["launch.js", "components/scripts/host-power", step], { cwd: ROOT, encoding: "utf8", env }, (err, stdout, stderr) =>
            resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
    });
}

const actions = (api: FakeApi): string[] => api.requests.filter((r) => r.startsWith("POST")).map((r) => r.split(" ")[1]);

describe("host power around an update that powers the server off", () => {
    const host = (overrides: Partial<FakeServer> = {}): FakeServer => ({ id: 42, name: "shop-production-web-1", status: "running", type: "cax21", ipv4: true, acpi: true, ...overrides });
    const apis: FakeApi[] = [];
    const fake = async (servers: FakeServer[]) => {
        const api = await fakeHetzner(servers);
        apis.push(api);
        return api;
    };
    after(() => apis.forEach((api) => api.close()));

    it("names what powers the server off: its type and its public IPv4, nothing else", () => {
        assert.deepStrictEqual(powerOffChanges(asApi(host()), { name: "x", serverType: "cax31", publicIpv4: false }), ["its type cax21 → cax31", "its public IPv4 on → off"]);
        assert.deepStrictEqual(powerOffChanges(asApi(host()), { name: "x", serverType: "cax21", publicIpv4: true }), []);
    });

    it("a type change: a clean ACPI shutdown first (never a hard power-off), then the server is powered on again", async () => {
        const server = host();
        const api = await fake([server]);
        const stop = await runStep(api, "stop", { serverType: "cax31", publicIpv4: true });
        assert.strictEqual(stop.status, 0, stop.stderr);
        assert.strictEqual(server.status, "off");
        assert.match(stop.stdout, /shop-production-web-1 shut down cleanly before its type cax21 → cax31/);
        // The provider now finds it off and changes the type without a Poweroff; Hetzner leaves it off.
        server.type = "cax31";
        const start = await runStep(api, "start", { serverType: "cax31", publicIpv4: true });
        assert.strictEqual(start.status, 0, start.stderr);
        assert.strictEqual(server.status, "running");
        assert.deepStrictEqual(actions(api), ["/servers/42/actions/shutdown", "/servers/42/actions/poweron"]);
        assert.ok(![stop, start].some((r) => `${r.stdout}${r.stderr}`.includes(TOKEN)), "the token is never printed");
    });

    it("a guest that ignores the ACPI request stops the update, rather than let the provider cut its power", async () => {
        const server = host({ acpi: false });
        const api = await fake([server]);
        const stop = await runStep(api, "stop", { serverType: "cax31", publicIpv4: true });
        assert.strictEqual(stop.status, 1);
        assert.match(stop.stderr, /shop-production-web-1 is still running after 1s: it did not finish an ACPI shutdown, so the update stops here/);
        assert.strictEqual(server.status, "running");
    });

    it("does nothing to a server this update does not power off, to a first `up` (no server yet), and to a running server at start", async () => {
        const server = host();
        const api = await fake([server]);
        assert.match((await runStep(api, "stop", { serverType: "cax21", publicIpv4: true })).stdout, /this update does not power it off/);
        assert.match((await runStep(api, "start", { serverType: "cax21", publicIpv4: true })).stdout, /shop-production-web-1 is running/);
        const empty = await fake([]);
        const first = await runStep(empty, "stop", { serverType: "cax21", publicIpv4: true });
        assert.strictEqual(first.status, 0, first.stderr);
        assert.match(first.stdout, /does not exist yet: nothing to stop/);
        assert.deepStrictEqual([...actions(api), ...actions(empty)], []);
    });

    it("a refused token fails with Hetzner's code, naming the key, and without the token", async () => {
        const api = await fake([host()]);
        const run = await runStep(api, "stop", { serverType: "cax31", publicIpv4: true }, "wrong-token");
        assert.strictEqual(run.status, 1);
        assert.match(run.stderr, /HTTP 401 unauthorized: the Hetzner token was refused \(hcloudToken\)/);
        assert.ok(!run.stderr.includes("wrong-token"));
    });
});
