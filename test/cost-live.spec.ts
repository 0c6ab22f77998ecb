// Live prices from Hetzner's API, against the local stand-in (test/hetzner-fake.ts): the client,
// the table's out-of-date entries, and the plan with a token given for the run.
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { tablePrices } from "../pricing/cost";
import { fetchPricing, fetchServerType, fetchServerTypes, HetznerApiError } from "../lib/hcloud-api";
import { livePriceSet, pricesFor } from "../pricing/live";
import { fakeHetzner, FakeHetzner, FakeHetznerState, pricingAnswer, serverTypeAnswer } from "./hetzner-fake";
import { ROOT } from "./support";

const TOKEN = "fake-hcloud-token-7f3a9c";
const TABLE_SERVERS = { cax11: 5.99, cax21: 10.49, cax31: 20.99, cax41: 40.99 };

/** The plan CLI, asynchronously: the fake API answers from this process. */
function plan(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "launch.js"), "plan/cli", ...args], { cwd: ROOT, env: { ...process.env, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
}

describe("live Hetzner prices", () => {
    let api: FakeHetzner;
    const state: FakeHetznerState = { token: TOKEN, pricing: pricingAnswer(TABLE_SERVERS), serverTypes: [serverTypeAnswer("cax11", { fsn1: true, nbg1: true, hel1: false })], servers: [] };
    let tmp: string;
    before(async () => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cost-live-"));
        api = await fakeHetzner(state);
    });
    after(async () => {
        await api.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    });
    afterEach(() => {
        state.pricing = pricingAnswer(TABLE_SERVERS);
        api.requests.length = 0;
    });

    it("reads /pricing and /server_types with the token, and finds the table current when the API agrees", async () => {
        const live = livePriceSet(await fetchPricing(TOKEN, api.endpoint));
        assert.deepStrictEqual(live.tableOutOfDate, []);
        assert.strictEqual(live.prices.source, "hetzner-api");
        assert.deepStrictEqual(live.prices.newServers["cax11@nbg1"], { eurPerMonth: 5.99, eurPerHour: 0.0096 });
        assert.deepStrictEqual(live.prices.existingServers, tablePrices().existingServers, "no API reports a server's pre-June price");
        const type = await fetchServerType("cax11", TOKEN, api.endpoint);
        assert.deepStrictEqual(type?.locations.map((l) => `${l.name}:${l.available}`), ["fsn1:true", "nbg1:true", "hel1:false"]);
        assert.strictEqual(await fetchServerType("cax99", TOKEN, api.endpoint), undefined);
        assert.deepStrictEqual(api.requests, ["GET /v1/pricing", "GET /v1/server_types?name=cax11", "GET /v1/server_types?name=cax99"]);
        assert.deepStrictEqual((await fetchServerTypes(TOKEN, api.endpoint)).map((t) => t.name), ["cax11"]);
        assert.strictEqual(api.requests.at(-1), "GET /v1/server_types?page=1&per_page=50");
    });

    it("names each table entry the API contradicts", async () => {
        state.pricing = pricingAnswer({ ...TABLE_SERVERS, cax11: 6.19 }, 0.6, 0.0599);
        const live = livePriceSet(await fetchPricing(TOKEN, api.endpoint));
        assert.deepStrictEqual(live.tableOutOfDate, [
            "hetzner-cax11-new: table 5.99/month, API fsn1 6.1900, nbg1 6.1900, hel1 6.1900",
            "hetzner-primary-ipv4: table 0.50/month, API fsn1 0.6000, nbg1 0.6000, hel1 0.6000",
            "hetzner-volume-per-gb: table 0.0572/GB-month, API 0.0599",
        ]);
    });

    it("is refused with a bad token as Hetzner refuses it, and says so without the token", async () => {
        await assert.rejects(fetchPricing("wrong-token", api.endpoint), (err: HetznerApiError) => {
            assert.strictEqual(err.status, 401);
            assert.strictEqual(err.message, "hcloudToken was refused by Hetzner's API (401 unauthorized: unable to authenticate)");
            return true;
        });
        assert.deepStrictEqual(api.requests, ["GET /v1/pricing"], "the refusal came from the API");
    });

    it("refuses a token no HTTP header can carry before any request, and reports an API that does not answer", async () => {
        await assert.rejects(fetchPricing("tok\nen", api.endpoint), /hcloudToken is empty or contains characters an HTTP header cannot carry/);
        assert.deepStrictEqual(api.requests, []);
        await assert.rejects(fetchPricing(TOKEN, "http://127.0.0.1:9/v1"), /Hetzner's API at http:\/\/127\.0\.0\.1:9\/v1 did not answer GET \/pricing/);
        const fallback = await pricesFor(TOKEN, "http://127.0.0.1:9/v1");
        assert.strictEqual(fallback.prices.source, "table");
        assert.match(fallback.report[0], /^ {2}prices: pricing\/table\.ts; live prices failed: Hetzner's API at/);
    });

    it("refuses to mix currencies", async () => {
        state.pricing = { ...pricingAnswer(TABLE_SERVERS), currency: "USD" };
        assert.throws(() => livePriceSet(state.pricing), /Hetzner prices this project in USD; the cost is computed in EUR/);
    });

    it("prices the plan from the API with a token given for the run, and falls back to the table, saying why, when it is refused", async () => {
        state.pricing = pricingAnswer({ ...TABLE_SERVERS, cax11: 6.19 });
        const out = path.join(tmp, "live");
        const live = await plan(["--stack", "staging", "--out", out, "--set", "appVersion=v1", "--set", `hcloudToken=${TOKEN}`], { HCLOUD_ENDPOINT: api.endpoint });
        assert.strictEqual(live.status, 0, live.stderr);
        assert.match(live.stdout, /prices: Hetzner's API \(http:\/\/127\.0\.0\.1:\d+\/v1\/pricing\) for Hetzner items/);
        assert.match(live.stdout, /pricing\/table\.ts is out of date \(update these entries\):\n {4}hetzner-cax11-new: table 5\.99\/month, API fsn1 6\.1900/);
        assert.match(live.stdout, /server cax11 in fsn1 \(new order\) +6\.19/);
        assert.strictEqual(JSON.parse(fs.readFileSync(path.join(out, "cost.json"), "utf8")).priceSource, "hetzner-api");

        const refused = await plan(["--stack", "staging", "--out", out, "--set", "appVersion=v1", "--set", "hcloudToken=revoked-token-0000"], { HCLOUD_ENDPOINT: api.endpoint });
        assert.strictEqual(refused.status, 0, refused.stderr);
        assert.match(refused.stdout, /prices: pricing\/table\.ts; live prices failed: hcloudToken was refused by Hetzner's API \(401 unauthorized: unable to authenticate\)/);
        assert.match(refused.stdout, /server cax11 in fsn1 \(new order\) +5\.99/);
        for (const run of [live, refused]) assert.ok(!`${run.stdout}${run.stderr}`.includes(TOKEN) && !run.stdout.includes("revoked-token-0000"), "a token reached the output");
        for (const file of fs.readdirSync(out, { recursive: true, encoding: "utf8" }).filter((f) => fs.statSync(path.join(out, f)).isFile())) {
            assert.ok(!fs.readFileSync(path.join(out, file), "utf8").includes("revoked-token-0000"), `the token leaked into ${file}`);
        }
    });
});
