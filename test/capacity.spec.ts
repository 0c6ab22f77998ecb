// Capacity before ordering: the verdict on its own, then the program under mocks whose data sources
// report the type available, unavailable with alternatives, and unavailable everywhere.
import * as assert from "assert";
import type * as pulumi from "@pulumi/pulumi";
import { capacityVerdict, TypeAvailability } from "../components/capacity";
import { SERVER_TYPES_INVOKE, SERVERS_INVOKE, TYPE } from "../plan/resource-types";
import { runPlan, stackConfigFromFiles } from "../plan/run";
import { plainInputs, resourcesOfType, ROOT, testCheckout } from "./support";

const type = (name: string, available: Record<string, boolean>): TypeAvailability => ({
    name,
    locations: Object.entries(available).map(([l, a]) => ({ name: l, available: a })),
});
const ALL = { fsn1: true, nbg1: true, hel1: true };
const NOWHERE = { fsn1: false, nbg1: false, hel1: false };
const WANTED = { hostname: "shop-staging-web-1", serverType: "cax11", location: "fsn1" };

describe("capacity: the verdict", () => {
    it("lets an orderable type through, saying what the run orders", () => {
        assert.deepStrictEqual(capacityVerdict(WANTED, [type("cax11", ALL)], []), { ok: true, order: "new server" });
        assert.deepStrictEqual(capacityVerdict(WANTED, [type("cax11", ALL)], [{ name: "shop-staging-web-1", serverType: "cax11", location: "fsn1" }]), {
            ok: true,
            order: "none",
        });
    });

    it("stops a new server where the type is unavailable, naming location and where it is available", () => {
        assert.deepStrictEqual(capacityVerdict(WANTED, [type("cax11", { fsn1: false, nbg1: true, hel1: true, ash: true })], []), {
            ok: false,
            order: "new server",
            message:
                "rails-stack:location: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1 now (Hetzner reports it unavailable there); it can in nbg1, hel1: set location to one of them, or choose another webServerType",
        });
    });

    it("stops when the type is unavailable everywhere, naming webServerType and the types orderable there", () => {
        const verdict = capacityVerdict(WANTED, [type("cax11", NOWHERE), type("cax31", ALL), type("cax21", { ...NOWHERE, fsn1: true }), type("cx23", ALL), type("cax41", NOWHERE)], []);
        assert.deepStrictEqual(verdict, {
            ok: false,
            order: "new server",
            message:
                "rails-stack:webServerType: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1, nbg1, hel1 now (Hetzner reports it unavailable in each); in fsn1 these can: cax21, cax31; choose another webServerType, or retry when Hetzner has capacity again",
        });
        assert.match(
            (capacityVerdict(WANTED, [type("cax11", NOWHERE)], []) as { message: string }).message,
            /; no ARM64 type can be ordered in fsn1 either; choose another webServerType/,
        );
        assert.match((capacityVerdict(WANTED, [], []) as { message: string }).message, /^rails-stack:webServerType: .* cax11 cannot be ordered in fsn1, nbg1, hel1 now/, "a type Hetzner no longer lists");
    });

    it("stops a rescale or a move as it stops a new server", () => {
        const rescale = capacityVerdict({ ...WANTED, serverType: "cax21" }, [type("cax21", { ...ALL, fsn1: false })], [{ name: WANTED.hostname, serverType: "cax11", location: "fsn1" }]);
        assert.deepStrictEqual([rescale.ok, rescale.order], [false, "rescale"]);
        assert.match((rescale as { message: string }).message, /^rails-stack:location: this run rescales shop-staging-web-1 to cax21, but cax21 cannot be ordered in fsn1 now/);
        const move = capacityVerdict({ ...WANTED, location: "hel1" }, [type("cax11", { ...ALL, hel1: false })], [{ name: WANTED.hostname, serverType: "cax11", location: "fsn1" }]);
        assert.deepStrictEqual([move.ok, move.order], [false, "new location"]);
    });

    it("keeps an existing server that is not re-ordered, with a warning, so a stock-out does not stop its deploys", () => {
        const kept = capacityVerdict(WANTED, [type("cax11", { ...NOWHERE, nbg1: true })], [{ name: WANTED.hostname, serverType: "cax11", location: "fsn1" }]);
        assert.deepStrictEqual(kept, {
            ok: true,
            order: "none",
            warning: "cax11 cannot be ordered in fsn1 now (Hetzner reports it unavailable there): shop-staging-web-1 exists and is kept, but replacing it would fail until it can; it can in nbg1",
        });
        // Another stack's server of the same labels' app is not this one.
        assert.deepStrictEqual(capacityVerdict(WANTED, [type("cax11", NOWHERE)], [{ name: "shop-pr-7-web-1", serverType: "cax11", location: "fsn1" }]).ok, false);
    });
});

describe("capacity: under mocks", () => {
    /** The offline plan with the capacity data sources answering as given. */
    const planWith = (answers: { types?: unknown; servers?: unknown }, onCall?: (token: string, at: number) => void, onServer?: (at: number) => void) =>
        runPlan("staging", stackConfigFromFiles(ROOT, "staging"), {
            readCommit: testCheckout,
            wrapMocks: (mocks): pulumi.runtime.Mocks => ({
                newResource: (args) => {
                    if (args.type === TYPE.server) onServer?.(Date.now());
                    return mocks.newResource(args);
                },
                call: async (args) => {
                    // A round trip's delay, so "the server waits" is observable.
                    await new Promise((resolve) => setTimeout(resolve, 50));
                    onCall?.(args.token, Date.now());
                    if (args.token === SERVER_TYPES_INVOKE && answers.types) return answers.types as Record<string, unknown>;
                    if (args.token === SERVERS_INVOKE && answers.servers) return answers.servers as Record<string, unknown>;
                    return mocks.call(args);
                },
            }),
        });
    const typesAnswer = (...types: TypeAvailability[]) => ({ serverTypes: types });

    it("available: reads both data sources once, in parallel, and the server waits for them", async () => {
        const answered: Record<string, number> = {};
        let serverAt = 0;
        const plan = await planWith({}, (token, at) => (answered[token] = at), (at) => (serverAt = at));
        assert.ok(plan.ok);
        const capacity = plan.invokes.filter((i) => i.token === SERVER_TYPES_INVOKE || i.token === SERVERS_INVOKE);
        assert.deepStrictEqual(
            capacity.map((i) => [i.token, i.inputs]),
            [
                [SERVER_TYPES_INVOKE, {}],
                [SERVERS_INVOKE, { withSelector: "app=shop,managed-by=rails-stack,stack=staging" }],
            ],
        );
        assert.ok(serverAt >= answered[SERVER_TYPES_INVOKE] && serverAt >= answered[SERVERS_INVOKE], "the server registered before the check answered");
        assert.strictEqual(plainInputs(resourcesOfType(plan, TYPE.server)[0]).serverType, "cax11");
    });

    it("unavailable with alternatives: the run stops before the server, naming location and where cax11 can be ordered", async () => {
        let server = false;
        await assert.rejects(
            planWith({ types: typesAnswer(type("cax11", { fsn1: false, nbg1: true, hel1: true })) }, undefined, () => (server = true)),
            /rails-stack:location: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1 now \(Hetzner reports it unavailable there\); it can in nbg1, hel1: set location to one of them, or choose another webServerType$/,
        );
        assert.ok(!server, "no server was registered");
    });

    it("unavailable everywhere: the run stops, naming webServerType and what fsn1 can order", async () => {
        await assert.rejects(
            planWith({ types: typesAnswer(type("cax11", NOWHERE), type("cax21", ALL)) }),
            /rails-stack:webServerType: this run orders a new server for shop-staging-web-1, but cax11 cannot be ordered in fsn1, nbg1, hel1 now \(Hetzner reports it unavailable in each\); in fsn1 these can: cax21;/,
        );
    });

    it("an existing server that is not re-ordered goes on during a stock-out, and the next plan runs clean", async () => {
        const existing = { servers: [{ name: "shop-staging-web-1", serverType: "cax11", location: "fsn1", labels: {}, status: "running" }] };
        const plan = await planWith({ types: typesAnswer(type("cax11", NOWHERE)), servers: existing });
        assert.ok(plan.ok);
        assert.ok(resourcesOfType(plan, TYPE.command).some((c) => c.name.endsWith("-deploy-kamal")), "the deploy still runs");
    });
});
