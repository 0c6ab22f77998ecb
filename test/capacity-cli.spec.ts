// `npm run capacity`: the capacity check on demand through Hetzner's API (the local stand-in,
// test/hetzner-fake.ts), as the doctor would run it.
import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { checkCapacity } from "../components/capacity";
import { parseConfig } from "../config/parse";
import { stackConfigFromFiles } from "../plan/run";
import { fakeHetzner, FakeHetzner, FakeHetznerState, pricingAnswer, serverAnswer, serverTypeAnswer } from "./hetzner-fake";
import { ROOT } from "./support";

const TOKEN = "fake-capacity-token-51ab";
const STAGING_LABELS = { app: "shop", stack: "staging", "managed-by": "rails-stack" };

function capacity(args: string[], endpoint: string, env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const { HCLOUD_TOKEN: _ambient, ...inherited } = process.env;
        const child = spawn(process.execPath, [path.join(ROOT, "launch.js"), "plan/capacity-cli", ...args], { cwd: ROOT, env: { ...inherited, HCLOUD_ENDPOINT: endpoint, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
}

describe("npm run capacity", () => {
    let api: FakeHetzner;
    const state: FakeHetznerState = { token: TOKEN, pricing: pricingAnswer({}), serverTypes: [], servers: [] };
    const withToken = ["--stack", "staging", "--set", `hcloudToken=${TOKEN}`];
    before(async () => {
        api = await fakeHetzner(state);
    });
    after(() => api.close());

    it("says the type can be ordered, and what the run would order", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: true, nbg1: true, hel1: true })];
        state.servers = [];
        const run = await capacity(withToken, api.endpoint);
        assert.deepStrictEqual([run.status, run.stdout, run.stderr], [0, "capacity: cax11 can be ordered in fsn1 now (this run would order: new server)\n", ""]);
    });

    it("stops with the line naming location and where the type is available", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: false, nbg1: false, hel1: true })];
        const run = await capacity(withToken, api.endpoint);
        assert.strictEqual(run.status, 1);
        assert.strictEqual(
            run.stderr,
            "rails-stack:location: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1 now (Hetzner reports it unavailable there); it can in hel1: set location to one of them, or choose another webServerType\n",
        );
    });

    it("stops naming webServerType when the type is unavailable everywhere, and passes an existing server with a warning", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: false, nbg1: false, hel1: false }), serverTypeAnswer("cax21", { fsn1: true, nbg1: true, hel1: true })];
        const run = await capacity(withToken, api.endpoint);
        assert.strictEqual(run.status, 1);
        assert.match(run.stderr, /^rails-stack:webServerType: .* in fsn1 these can: cax21; choose another webServerType/);
        // The stack's server exists (another app's server with the same name does not count).
        state.servers = [serverAnswer("shop-staging-web-1", "cax11", "fsn1", STAGING_LABELS), serverAnswer("shop-staging-web-1", "cax11", "fsn1", { ...STAGING_LABELS, app: "other" })];
        const kept = await capacity(withToken, api.endpoint);
        assert.strictEqual(kept.status, 0, kept.stderr);
        assert.match(kept.stdout, /^warning: rails-stack:webServerType: cax11 cannot be ordered in fsn1 now .*shop-staging-web-1 exists and is kept/);
        assert.ok(api.requests.includes("GET /v1/servers?label_selector=app%3Dshop%2Cmanaged-by%3Drails-stack%2Cstack%3Dstaging&page=1&per_page=50"), api.requests.join("\n"));
    });

    it("reads every page of the server types", async () => {
        state.servers = [];
        state.serverTypes = [...Array.from({ length: 60 }, (_, i) => serverTypeAnswer(`cx${i}`, { fsn1: true })), serverTypeAnswer("cax11", { fsn1: true })];
        const parsed = parseConfig(stackConfigFromFiles(ROOT, "staging"), "staging");
        assert.ok(parsed.ok);
        assert.deepStrictEqual(await checkCapacity(parsed.settings, TOKEN, api.endpoint), { ok: true, order: "new server" });
    });

    it("exits 1 with the API's refusal of a bad token, and 2 without a token or with bad arguments", async () => {
        const refused = await capacity(["--stack", "staging", "--set", "hcloudToken=not-the-token"], api.endpoint);
        assert.deepStrictEqual([refused.status, refused.stderr], [1, "capacity check failed: hcloudToken was refused by Hetzner's API (401 unauthorized: unable to authenticate)\n"]);
        const missing = await capacity(["--stack", "staging"], api.endpoint);
        assert.strictEqual(missing.status, 2);
        assert.match(missing.stderr, /^rails-stack:hcloudToken: needed to ask Hetzner; give it for this run: --set hcloudToken="\$\(pulumi config get hcloudToken --stack staging\)", or HCLOUD_TOKEN\n/);
        // The token in the environment, as the hcloud CLI reads it; --set wins over it.
        const fromEnv = await capacity(["--stack", "staging"], api.endpoint, { HCLOUD_TOKEN: TOKEN });
        assert.deepStrictEqual([fromEnv.status, fromEnv.stderr], [0, ""]);
        const setWins = await capacity(["--stack", "staging", "--set", "hcloudToken=not-the-token"], api.endpoint, { HCLOUD_TOKEN: TOKEN });
        assert.strictEqual(setWins.status, 1);
        const bad = await capacity(["--stack", "staging", "--out", "x"], api.endpoint);
        assert.deepStrictEqual([bad.status, bad.stderr.split("\n")[0]], [2, "unknown flag --out"]);
        assert.ok(![refused, missing, bad, fromEnv, setWins].some((r) => /not-the-token|fake-capacity-token/.test(`${r.stdout}${r.stderr}`)), "the token was printed");
    });
});
