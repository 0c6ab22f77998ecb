// "Nothing lost": what production protects, and that review stacks protect nothing, read from the
// resource options the program actually sets on the whole graph.
import * as assert from "assert";
import { OkPlan, planFor, plainInputs, resourcesOfType } from "./support";

const KEPT_ON_PRODUCTION = [
    "hcloud:index/server:Server",
    "hcloud:index/volume:Volume",
    "cloudflare:index/r2Bucket:R2Bucket",
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
    "cloudflare:index/dnsRecord:DnsRecord",
];

const protectedKeys = (plan: OkPlan): string[] => [...plan.options].filter(([, o]) => o.protect).map(([key]) => key).sort();

describe("protection across the graph", () => {
    it("production protects servers, volume, buckets, tunnel and DNS, in Pulumi and at the provider", async () => {
        const production = await planFor("production");
        for (const type of KEPT_ON_PRODUCTION) {
            const resources = resourcesOfType(production, type);
            assert.ok(resources.length > 0, `production has a ${type}`);
            for (const r of resources) assert.strictEqual(production.options.get(`${type}::${r.name}`)?.protect, true, `${type} ${r.name}`);
        }
        for (const type of ["hcloud:index/server:Server", "hcloud:index/volume:Volume"]) {
            for (const r of resourcesOfType(production, type)) assert.strictEqual(plainInputs(r).deleteProtection, true, r.name);
        }
    });

    it("staging and review stacks protect nothing, so they can be destroyed", async () => {
        for (const plan of [await planFor("staging"), await planFor("pr-7")]) {
            assert.ok(plan.options.size > 10);
            assert.deepStrictEqual(protectedKeys(plan), [], plan.stack);
        }
    });

    it("no resource ignores a change: a server boots with the inputs in its state, never stale ones", async () => {
        for (const plan of [await planFor("production"), await planFor("staging"), await planFor("pr-7")]) {
            assert.deepStrictEqual([...plan.options].filter(([, o]) => o.ignoreChanges.length > 0), [], plan.stack);
        }
    });
});
