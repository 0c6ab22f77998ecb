// plan-compare on pairs of offline plans: what each change does to the host, and to the bill.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { costJson, planCost } from "../plan/cost";
import { compareStack, hostImpact, PlanOnDisk, readPlanDir, resourceChanges } from "../plan/compare";
import { RULES } from "../plan/replacement-rules";
import { TYPE } from "../plan/resource-types";
import { tablePrices } from "../pricing/cost";
import { writePlan } from "../plan/write";
import { planFor, ROOT } from "./support";

/** Where the plans are written: made by the first plan a suite writes, removed after each suite. */
let tmp: string | undefined;
let counter = 0;
const removeTmp = (): void => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    tmp = undefined;
};

/** The offline plan of `stack` with `overrides`, written as `npm run plan` writes it. */
async function written(stack: string, overrides: Record<string, string> = {}): Promise<{ dir: string; plan: PlanOnDisk }> {
    tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), "plan-compare-"));
    const result = await planFor(stack, { appVersion: "v1", ...overrides });
    const dir = path.join(tmp, `${counter++}`, stack);
    writePlan(result, dir, { "cost.json": costJson(planCost(result, tablePrices())) });
    return { dir, plan: readPlanDir(dir, stack)! };
}

describe("plan-compare: host impact", () => {
    let staging: PlanOnDisk;
    before(async () => {
        staging = (await written("staging")).plan;
    });
    after(removeTmp);

    const impactOf = async (overrides: Record<string, string>, stack = "staging", base = staging) => hostImpact(base, (await written(stack, overrides)).plan);

    it("finds nothing between two plans of the same config, and only the deploy for a new version", async () => {
        assert.deepStrictEqual(resourceChanges(staging, (await written("staging")).plan), []);
        const changes = resourceChanges(staging, (await written("staging", { appVersion: "v2" })).plan);
        assert.deepStrictEqual(
            changes.map((c) => [c.name, c.effect, c.inputs.map((i) => i.input)]),
            [["shop-staging-deploy-kamal", "replace", ["environment", "triggers"]]],
        );
        assert.deepStrictEqual(hostImpact(staging, (await written("staging", { appVersion: "v2" })).plan), []);
    });

    it("replaces the server when the Tailscale key's arguments change: the key is in the user-data", async () => {
        // The volume carries its serverId, updated in place: no separate attachment to detach first.
        assert.deepStrictEqual(await impactOf({ tailscaleKeyExpiry: "7200" }), [
            "**replaces shop-staging-web-1**: the app is down for ~10 minutes (shutdown, a new server ordered at the new-order price, first boot, deploy); data stays on the volume shop-staging-storage, which moves to the new server. Because: userData: shop-staging-web-1-tailnet-key is replaced (its expiry: 3600 → 7200).",
        ]);
    });

    it("replaces the server when the user-data's own content changes, seen through its rendered artifact", async () => {
        const [server] = await impactOf({ tailscaleTags: JSON.stringify(["tag:rails-host", "tag:web"]) });
        assert.match(server, /^\*\*replaces shop-staging-web-1\*\*.* Because: userData: cloud-init\/shop-staging-web-1\.yaml changed; userData: shop-staging-web-1-tailnet-key is replaced \(its description: shop-staging-web-1 \w{8} → shop-staging-web-1 \w{8}; tags: changed\)\.$/);
    });

    it("replaces server and volume on a new location, and says the data does not carry over", async () => {
        const impact = await impactOf({ location: "nbg1" });
        assert.match(impact[0], /^\*\*replaces shop-staging-web-1\*\*: .*the volume is replaced too, see below: its data does not carry over\. Because: location: fsn1 → nbg1/);
        assert.ok(
            impact.includes("**replaces volume shop-staging-hosts-volume**: the databases on it are deleted with it (unless protected); the deploy restores them from Litestream's replicas onto the new one. Because: location: fsn1 → nbg1."),
            impact.join("\n"),
        );
    });

    it("powers the server off for a new type, saying the disk cannot shrink back, and for a public IPv4 change", async () => {
        assert.deepStrictEqual(await impactOf({ webServerType: "cax21" }), [
            "**shuts shop-staging-web-1 down to change its type** (cax11 → cax21), cleanly (its containers stop, Litestream syncs), and powers it on again: the app is down for ~2 minutes; the disk keeps its size, so it can go back to a smaller type; a rescale is billed at the new-order price.",
        ]);
        assert.deepStrictEqual(await impactOf({ publicIpv4: "false" }), [
            "**shuts shop-staging-web-1 down to change its public network** (primary IPv4 removed), cleanly, and powers it on again: the app is down for ~1 minute.",
        ]);
    });

    it("reads keepDisk from the plan: a kept disk can go back", async () => {
        const head = (await written("staging", { webServerType: "cax21" })).plan;
        const keep = (p: PlanOnDisk): PlanOnDisk => ({
            ...p,
            entries: p.entries.map((e) => (e.type === TYPE.server ? { ...e, inputs: { ...(e.inputs as object), keepDisk: true } } : e)),
        });
        assert.match(hostImpact(keep(staging), keep(head))[0], /the disk keeps its size, so it can go back to a smaller type;/);
    });

    it("leaves the host alone when the volume grows, and warns of the production runbook on a production replacement", async () => {
        assert.deepStrictEqual(await impactOf({ volumeSize: "50" }), []);
        const production = (await written("production")).plan;
        const [server] = await impactOf({ tailscaleKeyExpiry: "7200" }, "production", production);
        assert.match(server, /Production is protected: Pulumi refuses the replacement until you follow docs\/hosts\.md, "Replacing the host"\. Because:/);
    });

    it("reports a renamed stack's server as deleted and ordered", async () => {
        const impact = await impactOf({ app: "store" });
        assert.ok(impact.includes("**deletes shop-staging-web-1**: the app on it stops for good."), impact.join("\n"));
        assert.ok(impact.includes("**orders store-staging-web-1**, a new server (billed at the new-order price)."), impact.join("\n"));
    });

    it("cites a source for every replacement rule", () => {
        for (const [type, rules] of Object.entries(RULES)) assert.match(rules.source, /\.(go|js)\b/, type);
    });
});

describe("plan-compare: the bill", () => {
    after(removeTmp);

    it("shows base, head and the difference per item, and calls out a rescale as a new order", async () => {
        const base = (await written("staging")).plan;
        const head = (await written("staging", { webServerType: "cax21", volumeSize: "110" })).plan;
        const markdown = compareStack("staging", base, head, tablePrices(), 10);
        assert.match(markdown, /\n\| server cax11 in fsn1 \(new order\) → server cax21 in fsn1 \(new order\) \| 5\.99 \| 10\.49 \| \+4\.50 \|\n/);
        assert.match(markdown, /\n\| volume 10 GB → volume 110 GB \| 0\.57 \| 6\.29 \| \+5\.72 \|\n/);
        assert.match(markdown, /\n\| \*\*total\*\*, databases changing all month \| 36\.55 \| 46\.77 \| \+10\.22 \|\n/);
        assert.match(markdown, /\*\*New order:\*\* this change turns the existing shop-staging-web-1 into a new order at 10\.49 a month; ordered before 2026-06-15 and never rescaled, it pays 4\.49 today\./);
        assert.doesNotMatch(compareStack("staging", base, (await written("staging", { volumeSize: "110" })).plan, tablePrices(), 10), /New order/);
    });

    it("prices a stack the base did not plan, and a base written before plan.json had dependencies", async () => {
        const head = (await written("pr-7")).plan;
        const alone = compareStack("pr-7", undefined, head, tablePrices(), 10);
        assert.match(alone, /The base branch did not plan this stack: no host comparison\./);
        assert.match(alone, /\| \*\*total\*\*, databases changing all month \| – \| 36\.55 \| {2}\|/);
        assert.match(alone, /A review stack: 0\.0523 an hour, 3\.76 over a typical 72 h\./);
        const old: PlanOnDisk = { ...head, entries: head.entries.map((e) => ({ ...e, inputDependencies: {}, inputArtifacts: {} })), r2StoredGb: undefined };
        assert.match(compareStack("pr-7", old, head, tablePrices(), 10), /No change replaces, powers off, orders or deletes the host\./);
    });

    it("runs as npm run plan-compare over directories of stacks, and refuses bad arguments", async () => {
        const base = await written("staging");
        const head = await written("staging", { publicIpv4: "false" });
        const run = spawnSync(process.execPath, [path.join(ROOT, "launch.js"), "plan/compare-cli", path.dirname(base.dir), path.dirname(head.dir)], { encoding: "utf8", cwd: ROOT });
        assert.strictEqual(run.status, 0, run.stderr);
        assert.match(run.stdout, /^## What this change does to the hosts and the monthly bill\n/);
        assert.match(run.stdout, /\n### staging\n\n- \*\*shuts shop-staging-web-1 down to change its public network\*\* \(primary IPv4 removed\)/);
        assert.match(run.stdout, /\| primary IPv4 \| 0\.50 \| 0\.00 \| −0\.50 \|/);
        const bad = spawnSync(process.execPath, [path.join(ROOT, "launch.js"), "plan/compare-cli", base.dir], { encoding: "utf8", cwd: ROOT });
        assert.deepStrictEqual([bad.status, bad.stderr], [2, "usage: npm run plan-compare -- <base plan dir> <head plan dir>\n"]);
    });
});
