// The host's power steps around an update that powers the server off (lib/host-power.ts), run as
// the Commands run them (`node launch.js components/scripts/host-power <step>`) against the local
// fake of Hetzner's API (test/hetzner-fake.ts: a bearer token or 401 `unauthorized`; a `shutdown`
// action only sends an ACPI request, so only the server's status tells whether it went off).
import * as assert from "assert";
import { execFile } from "child_process";
import { ApiServer } from "../lib/hcloud-api";
import { HOST_POWER_ENV, powerOffChanges } from "../lib/host-power";
import { FakeHetzner, fakeHetzner, FakeServer, pricingAnswer, serverAnswer } from "./hetzner-fake";
import { ROOT } from "./support";

const TOKEN = "hcloud-test-token";

/** Runs the step as its Command does, asynchronously: the fake API answers from this process. */
function runStep(api: FakeHetzner, step: string, target: { serverType: string; publicIpv4: boolean }, token = TOKEN): Promise<{ status: number; stdout: string; stderr: string }> {
    const env = {
        PATH: process.env.PATH,
        [HOST_POWER_ENV.token]: token,
        HCLOUD_ENDPOINT: api.endpoint,
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

const actions = (api: FakeHetzner): string[] => api.requests.filter((r) => r.startsWith("POST")).map((r) => r.split(" ")[1]);

describe("host power around an update that powers the server off", () => {
    const host = (overrides: Partial<FakeServer> = {}): FakeServer => ({ ...serverAnswer("shop-production-web-1", "cax21", "fsn1", { stack: "production" }), ...overrides });
    const apis: FakeHetzner[] = [];
    const fake = async (servers: FakeServer[]) => {
        const api = await fakeHetzner({ token: TOKEN, pricing: pricingAnswer({}), serverTypes: [], servers });
        apis.push(api);
        return api;
    };
    after(() => Promise.all(apis.map((api) => api.close())));

    it("names what powers the server off: its type and its public IPv4, nothing else", () => {
        const server = host() as ApiServer;
        assert.deepStrictEqual(powerOffChanges(server, { name: "x", serverType: "cax31", publicIpv4: false }), ["its type cax21 → cax31", "its public IPv4 on → off"]);
        assert.deepStrictEqual(powerOffChanges(server, { name: "x", serverType: "cax21", publicIpv4: true }), []);
    });

    it("a type change: a clean ACPI shutdown first (never a hard power-off), then the server is powered on again", async () => {
        const server = host();
        const api = await fake([server]);
        const stop = await runStep(api, "stop", { serverType: "cax31", publicIpv4: true });
        assert.strictEqual(stop.status, 0, stop.stderr);
        assert.strictEqual(server.status, "off");
        assert.match(stop.stdout, /shop-production-web-1 shut down cleanly before its type cax21 → cax31/);
        // The provider now finds it off and changes the type without a Poweroff; Hetzner leaves it off.
        server.server_type = { name: "cax31" };
        const start = await runStep(api, "start", { serverType: "cax31", publicIpv4: true });
        assert.strictEqual(start.status, 0, start.stderr);
        assert.strictEqual(server.status, "running");
        assert.deepStrictEqual(actions(api), ["/v1/servers/42/actions/shutdown", "/v1/servers/42/actions/poweron"]);
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
        const api = await fake([host()]);
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
        assert.match(run.stderr, /hcloudToken was refused by Hetzner's API \(401 unauthorized: unable to authenticate\)/);
        assert.ok(!run.stderr.includes("wrong-token"));
    });
});
