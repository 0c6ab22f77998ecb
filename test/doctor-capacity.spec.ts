// `npm run doctor -- --stack <name>` with the stack's Hetzner token: the capacity check of `pulumi
// preview` on demand, against the local stand-in of Hetzner's API (test/hetzner-fake.ts), after the
// app's own lines, which stay exactly as they are without a token.
import * as assert from "assert";
import * as path from "path";
import { main } from "../deploy/doctor-cli";
import { fakeHetzner, FakeHetzner, FakeHetznerState, pricingAnswer, serverAnswer, serverTypeAnswer } from "./hetzner-fake";

const TOKEN = "fake-doctor-token-7c1e";
const HEALTHY = path.join(__dirname, "fixtures", "apps", "healthy");
const BROKEN = path.join(__dirname, "fixtures", "apps", "seed-000");
const READY = `doctor: ${HEALTHY} is ready for RAILS_ENV=staging\n`;
const STAGING_LABELS = { app: "shop", stack: "staging", "managed-by": "rails-stack" };
const EVERYWHERE = { fsn1: true, nbg1: true, hel1: true };

describe("doctor: the capacity check with the stack's token", () => {
    let api: FakeHetzner;
    const state: FakeHetznerState = { token: TOKEN, pricing: pricingAnswer({}), serverTypes: [], servers: [] };
    const saved = { endpoint: process.env.HCLOUD_ENDPOINT, token: process.env.HCLOUD_TOKEN };
    before(async () => {
        api = await fakeHetzner(state);
        process.env.HCLOUD_ENDPOINT = api.endpoint;
    });
    beforeEach(() => {
        delete process.env.HCLOUD_TOKEN;
        api.requests.length = 0;
        state.servers = [];
        state.serverTypes = [serverTypeAnswer("cax11", EVERYWHERE)];
    });
    after(async () => {
        for (const [name, value] of [["HCLOUD_ENDPOINT", saved.endpoint], ["HCLOUD_TOKEN", saved.token]] as const) {
            if (value === undefined) delete process.env[name];
            else process.env[name] = value;
        }
        await api.close();
    });

    async function doctor(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
        const out = { stdout: "", stderr: "" };
        const code = await main(argv, { stdout: (text) => (out.stdout += text), stderr: (text) => (out.stderr += text) });
        assert.ok(!`${out.stdout}${out.stderr}`.includes(TOKEN), "the token was printed");
        return { code, ...out };
    }
    const staging = (app = HEALTHY) => ["--stack", "staging", "--app-dir", app];

    it("adds one line when the type can be ordered, and asks Hetzner once per list", async () => {
        const result = await doctor(...staging(), "--set", `hcloudToken=${TOKEN}`);
        assert.deepStrictEqual(result, { code: 0, stdout: `${READY}capacity: cax11 can be ordered in fsn1 now (this run would order: new server)\n`, stderr: "" });
        assert.deepStrictEqual(api.requests.map((r) => r.split("?")[0]).sort(), ["GET /v1/server_types", "GET /v1/servers"]);
    });

    it("fails with the line naming location, and where the type can be ordered", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: false, nbg1: true, hel1: false })];
        const result = await doctor(...staging(), "--set", `hcloudToken=${TOKEN}`);
        assert.deepStrictEqual(result, {
            code: 1,
            stdout: `${READY}rails-stack:location: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1 now (Hetzner reports it unavailable there); it can in nbg1: set location to one of them, or choose another webServerType\n`,
            stderr: "",
        });
    });

    it("fails naming webServerType when the type is unavailable everywhere, after the app's own problems", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: false, nbg1: false, hel1: false }), serverTypeAnswer("cax21", EVERYWHERE)];
        const withToken = await doctor(...staging(BROKEN), "--set", `hcloudToken=${TOKEN}`);
        const without = await doctor(...staging(BROKEN));
        assert.strictEqual(without.code, 1);
        assert.strictEqual(withToken.code, 1);
        assert.ok(withToken.stdout.startsWith(without.stdout), "the app's lines come first, unchanged");
        assert.match(withToken.stdout.slice(without.stdout.length), /^rails-stack:webServerType: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1, nbg1, hel1 now .*; in fsn1 these can: cax21; choose another webServerType, or retry when Hetzner has capacity again\n$/);
    });

    it("warns, and passes, when the stack's server exists and is kept", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: false, nbg1: false, hel1: true })];
        state.servers = [serverAnswer("shop-staging-web-1", "cax11", "fsn1", STAGING_LABELS)];
        const result = await doctor(...staging(), "--set", `hcloudToken=${TOKEN}`);
        assert.strictEqual(result.code, 0);
        assert.match(result.stdout, /^doctor: .* is ready for RAILS_ENV=staging\nwarning: rails-stack:webServerType: cax11 cannot be ordered in fsn1 now \(Hetzner reports it unavailable there\): shop-staging-web-1 exists and is kept, but replacing it would fail until it can; it can in hel1\n$/);
    });

    it("takes the token from HCLOUD_TOKEN, and --set over it", async () => {
        process.env.HCLOUD_TOKEN = TOKEN;
        assert.deepStrictEqual(await doctor(...staging()), { code: 0, stdout: `${READY}capacity: cax11 can be ordered in fsn1 now (this run would order: new server)\n`, stderr: "" });
        const refused = await doctor(...staging(), "--set", "hcloudToken=not-the-token");
        assert.deepStrictEqual(refused, { code: 1, stdout: `${READY}capacity check failed: hcloudToken was refused by Hetzner's API (401 unauthorized: unable to authenticate)\n`, stderr: "" });
        assert.ok(!refused.stdout.includes("not-the-token"));
    });

    it("checks a one-off config too: --set webServerType", async () => {
        state.serverTypes = [serverTypeAnswer("cax11", { fsn1: false }), serverTypeAnswer("cax21", EVERYWHERE)];
        const result = await doctor(...staging(), "--set", `hcloudToken=${TOKEN}`, "--set", "webServerType=cax21");
        assert.deepStrictEqual([result.code, result.stdout], [0, `${READY}capacity: cax21 can be ordered in fsn1 now (this run would order: new server)\n`]);
    });

    it("without a token, asks nothing and prints what it printed before", async () => {
        assert.deepStrictEqual(await doctor(...staging()), { code: 0, stdout: READY, stderr: "" });
        assert.deepStrictEqual(api.requests, []);
    });

    it("a Hetzner API that does not answer fails the check in one line", async () => {
        process.env.HCLOUD_ENDPOINT = "http://127.0.0.1:9/v1";
        try {
            const result = await doctor(...staging(), "--set", `hcloudToken=${TOKEN}`);
            assert.strictEqual(result.code, 1);
            assert.match(result.stdout, /^doctor: .* is ready for RAILS_ENV=staging\ncapacity check failed: Hetzner's API at http:\/\/127\.0\.0\.1:9\/v1 did not answer GET \/server_types\?page=1&per_page=50: [^\n]+\n$/);
        } finally {
            process.env.HCLOUD_ENDPOINT = api.endpoint;
        }
    });

    for (const argv of [
        ["--app-dir", HEALTHY, "--rails-env", "staging", "--litestream", "x.yml", "--set", `hcloudToken=${TOKEN}`],
        ["--stack", "staging", "--set", "hcloudToken"],
        ["--stack", "staging", "--set"],
    ]) {
        it(`refuses ${argv.filter((a) => a !== HEALTHY).join(" ")} with usage, asking nothing`, async () => {
            const result = await doctor(...argv);
            assert.deepStrictEqual([result.code, result.stdout], [2, ""]);
            assert.match(result.stderr, /^doctor: (--set sets a stack's config: give --stack|--set hcloudToken: missing '=value' \(write --set hcloudToken=value\)|--set: missing value)\nusage: npm run doctor -- --stack <production\|staging\|pr-N> \[--app-dir <dir>\] \[--set key=value \.\.\.\]\n/);
            assert.deepStrictEqual(api.requests, []);
        });
    }
});
