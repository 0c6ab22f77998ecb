// The review-stack lifecycle under mocks, for the smallest and a large pull request number: what
// `pulumi destroy` meets when the pull request closes, and what the stack leaves behind.
import * as assert from "assert";
import { R2_EMPTY_ENV } from "../lib/s3";
import { OkPlan, planFor, plainInputs, resourcesOfType } from "./support";
import { TYPE } from "../plan/resource-types";


/** The input holding each resource type's name in the cloud (what two stacks must never share). */
const PHYSICAL_NAME: Record<string, (inputs: Record<string, unknown>) => unknown> = {
    [TYPE.server]: (i) => i.name,
    [TYPE.volume]: (i) => i.name,
    [TYPE.firewall]: (i) => i.name,
    [TYPE.sshKey]: (i) => i.name,
    [TYPE.r2Bucket]: (i) => i.name,
    [TYPE.tunnel]: (i) => i.name,
    [TYPE.dnsRecord]: (i) => i.name,
    [TYPE.workersRoute]: (i) => i.pattern,
};

/** Every physical name of the plan, as `<type> <name>`; fails on a cloud resource type without a known name. */
function physicalNames(plan: OkPlan): string[] {
    const named = plan.resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
    const unnamed = new Set<string>([TYPE.tunnelConfig, TYPE.r2BucketLifecycle, TYPE.r2BucketCors, TYPE.r2BucketLock, TYPE.tailnetKey, TYPE.command]);
    const unknown = named.filter((r) => !PHYSICAL_NAME[r.type] && !unnamed.has(r.type)).map((r) => r.type);
    assert.deepStrictEqual(unknown, [], "a new resource type: say which input is its name in the cloud");
    return named.filter((r) => PHYSICAL_NAME[r.type]).map((r) => `${r.type} ${String(PHYSICAL_NAME[r.type](plainInputs(r)))}`);
}

const REVIEW_STACKS = ["pr-1", "pr-99999"];

describe("review stacks pr-1 and pr-99999", () => {
    const plans = new Map<string, OkPlan>();
    before(async () => {
        for (const stack of REVIEW_STACKS) plans.set(stack, await planFor(stack));
    });
    const each = (check: (plan: OkPlan, stack: string) => void) => () => REVIEW_STACKS.forEach((stack) => check(plans.get(stack)!, stack));

    it(
        "protect nothing, in Pulumi or at the provider",
        each((plan) => {
            assert.deepStrictEqual([...plan.options].filter(([, o]) => o.protect).map(([key]) => key), []);
            for (const r of [...resourcesOfType(plan, TYPE.server), ...resourcesOfType(plan, TYPE.volume)]) {
                assert.strictEqual(plainInputs(r).deleteProtection, false, r.name);
            }
            for (const r of resourcesOfType(plan, TYPE.server)) assert.strictEqual(plainInputs(r).rebuildProtection, false, r.name);
        }),
    );

    it(
        "use only ephemeral, single-use, pre-authorized Tailscale keys",
        each((plan) => {
            const keys = resourcesOfType(plan, TYPE.tailnetKey);
            assert.ok(keys.length > 0);
            for (const key of keys) {
                const inputs = plainInputs(key);
                assert.deepStrictEqual([inputs.ephemeral, inputs.reusable, inputs.preauthorized], [true, false, true], key.name);
            }
        }),
    );

    it(
        "carry the pull request number in every physical name",
        each((plan, stack) => {
            // No bucket: a review stack uses staging's review pool, under its own prefix (test/storage.spec.ts).
            const names = physicalNames(plan);
            assert.ok(names.length >= 7, names.join("\n"));
            // `pr-1` must not merely prefix `pr-10`: the number ends at a non-digit.
            const carriesNumber = new RegExp(`(^|[^a-z0-9])${stack}([^0-9]|$)`);
            for (const name of names) assert.match(name.split(" ")[1], carriesNumber, name);
        }),
    );

    it("share no physical name with each other, with staging or with production", async () => {
        const owner = new Map<string, string>();
        const all = [...REVIEW_STACKS.map((s) => plans.get(s)!), await planFor("staging"), await planFor("production")];
        for (const plan of all) {
            for (const name of physicalNames(plan)) {
                assert.ok(!owner.has(name), `${name}: ${owner.get(name)} and ${plan.stack}`);
                owner.set(name, plan.stack);
            }
        }
    });

    it(
        "clean up at delete time: its share of the review pool's backups emptied, the tailnet device and the tunnel's connections removed, each after the host",
        each((plan, stack) => {
            const deleteOnly = resourcesOfType(plan, TYPE.command).filter((c) => plainInputs(c).create === undefined);
            const byKind = (suffix: string) => deleteOnly.filter((c) => c.name.endsWith(suffix));
            const emptiers = byKind("-emptier");
            // Attachments in the pool expire by its lifecycle rule (reviewPoolDays): Active Storage's keys carry no stack prefix.
            assert.deepStrictEqual(
                emptiers.map((c) => [(plainInputs(c).environment as Record<string, string>)[R2_EMPTY_ENV.bucket], (plainInputs(c).environment as Record<string, string>)[R2_EMPTY_ENV.prefix]]),
                [["shop-review-backups", `${stack}/`]],
            );
            assert.strictEqual(byKind("-tailnet-cleanup").length, resourcesOfType(plan, TYPE.server).length);
            assert.strictEqual(byKind("-tunnel-connections-cleanup").length, 1);
            for (const server of resourcesOfType(plan, TYPE.server)) {
                const dependsOn = plan.options.get(`${TYPE.server}::${server.name}`)!.dependsOn;
                for (const c of [...emptiers, ...byKind("-tunnel-connections-cleanup")]) assert.ok(dependsOn.includes(`${TYPE.command}::${c.name}`), `${server.name} is deleted before ${c.name} runs`);
            }
            // The pool's bucket is staging's: the stack's destroy never deletes it, so the emptier waits for nothing but the host.
            assert.deepStrictEqual(resourcesOfType(plan, TYPE.r2Bucket), []);
        }),
    );

    it(
        "hold nothing that would block or outlive pulumi destroy: no retained or change-ignoring resource, no delete step beyond the clean-ups",
        each((plan) => {
            assert.deepStrictEqual([...plan.options].filter(([, o]) => o.retainOnDelete || o.ignoreChanges.length > 0).map(([key]) => key), []);
            for (const c of resourcesOfType(plan, TYPE.command)) {
                const inputs = plainInputs(c);
                // The deploy has no delete step (its host goes with the stack); a clean-up does nothing else.
                if (inputs.create !== undefined) assert.strictEqual(inputs.delete, undefined, c.name);
            }
        }),
    );
});
