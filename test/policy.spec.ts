// The policy pack (policy/): each policy against a passing and a failing resource, and the whole
// pack against every resource of the three committed stacks' plans.
import * as assert from "assert";
import { PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy, Secret } from "@pulumi/policy";
import { isSecretValue, revealSecrets } from "../plan/run";
import { policies, stackOf } from "../policy/policies";
import { OkPlan, planFor } from "./support";
import { TYPE } from "../plan/resource-types";

/** What the policy SDK throws for a resource a typed policy does not apply to (server.js catches it). */
class NotApplicable extends Error {}

interface Resource {
    readonly type: string;
    readonly name?: string;
    readonly stack?: string;
    readonly props: Record<string, unknown>;
    readonly protect?: boolean;
}

function argsFor(resource: Resource): ResourceValidationArgs {
    const { type, props } = resource;
    const opts: PolicyResourceOptions = { protect: resource.protect ?? false, ignoreChanges: [], aliases: [], additionalSecretOutputs: [], customTimeouts: {} } as unknown as PolicyResourceOptions;
    const isType = (cls: unknown): boolean => (cls as { __pulumiType?: string }).__pulumiType === type;
    // A stand-in for what the policy SDK hands a policy (server.js): only the fields policies read.
    return {
        type,
        props,
        urn: `urn:pulumi:${resource.stack ?? "staging"}::rails-stack::${type}::${resource.name ?? "r"}`,
        name: resource.name ?? "r",
        opts,
        stackTags: new Map(),
        isType,
        asType: (cls: unknown) => (isType(cls) ? props : undefined),
        getConfig: () => ({}),
        notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
        },
    } as unknown as ResourceValidationArgs;
}

const policy = (name: string): ResourceValidationPolicy => {
    const found = policies.find((p) => p.name === name);
    if (!found) throw new Error(`no policy ${name}`);
    return found;
};

/** The violations a policy reports for a resource (validating policies). */
async function violations(name: string, resource: Resource): Promise<string[]> {
    const reported: string[] = [];
    for (const validate of ([] as unknown[]).concat(policy(name).validateResource ?? []) as NonNullable<ResourceValidationPolicy["validateResource"]>[]) {
        if (typeof validate !== "function") continue;
        try {
            await validate(argsFor(resource), (message: string) => reported.push(message));
        } catch (err) {
            if (!(err instanceof NotApplicable)) throw err;
        }
    }
    return reported;
}

/** What a remediating policy changes, or undefined when it leaves the resource alone. */
async function remediation(name: string, resource: Resource): Promise<Record<string, unknown> | undefined> {
    return (await policy(name).remediateResource?.(argsFor(resource))) ?? undefined;
}


describe("policy pack: each policy, passing and failing", () => {
    const table: { policy: string; passing: Resource; failing: Resource; message: RegExp }[] = [
        {
            policy: "no-inbound-tcp",
            passing: { type: TYPE.firewall, props: { rules: [{ direction: "in", protocol: "udp", port: "41641", sourceIps: ["0.0.0.0/0"] }] } },
            failing: { type: TYPE.firewall, props: { rules: [{ direction: "in", protocol: "tcp", port: "22", sourceIps: ["0.0.0.0/0"] }] } },
            message: /^inbound TCP port 22 is open to 0\.0\.0\.0\/0$/,
        },
        {
            policy: "server-has-firewall",
            passing: { type: TYPE.server, props: { serverType: "cax11", firewallIds: [7] } },
            failing: { type: TYPE.server, props: { serverType: "cax11" } },
            message: /no firewallIds/,
        },
        {
            policy: "arm64-servers-only",
            passing: { type: TYPE.server, props: { serverType: "cax21", firewallIds: [7] } },
            failing: { type: TYPE.server, props: { serverType: "cx22", firewallIds: [7] } },
            message: /^server type cx22 is not an ARM64 \(cax\) type$/,
        },
        {
            policy: "production-data-protected",
            passing: { type: TYPE.volume, stack: "production", protect: true, props: { deleteProtection: true } },
            failing: { type: TYPE.volume, stack: "production", protect: true, props: { deleteProtection: false } },
            message: /production volume lacks Hetzner's delete protection/,
        },
        {
            policy: "production-data-protected",
            passing: { type: TYPE.r2Bucket, stack: "staging", props: { name: "b" } },
            failing: { type: TYPE.r2Bucket, stack: "production", props: { name: "b" } },
            message: /production bucket is not protected/,
        },
        {
            policy: "production-data-protected",
            passing: { type: TYPE.server, stack: "production", protect: true, props: { deleteProtection: true, rebuildProtection: true } },
            failing: { type: TYPE.server, stack: "production", props: { deleteProtection: true, rebuildProtection: true } },
            message: /production server is not protected/,
        },
        {
            policy: "tailnet-keys-single-use",
            passing: { type: TYPE.tailnetKey, props: { preauthorized: true, reusable: false } },
            failing: { type: TYPE.tailnetKey, props: { preauthorized: true, reusable: true } },
            message: /reusable/,
        },
        {
            policy: "no-database-url",
            passing: { type: TYPE.command, props: { environment: { RAILS_STACK_FILE_0: "env:\n  clear:\n    RAILS_ENV: staging\n" } } },
            failing: { type: TYPE.command, props: { environment: { RAILS_STACK_FILE_0: "env:\n  clear:\n    DATABASE_URL: sqlite3:/x\n" } } },
            message: /^RAILS_STACK_FILE_0 sets or renders DATABASE_URL$/,
        },
    ];
    for (const row of table) {
        it(`${row.policy}: ${row.failing.type.split(":").pop()} ${row.failing.stack ?? ""}`, async () => {
            assert.deepStrictEqual(await violations(row.policy, row.passing), []);
            const reported = await violations(row.policy, row.failing);
            assert.ok(reported.length > 0 && reported.every((m) => typeof m === "string"), "the failing resource is reported");
            assert.ok(reported.some((m) => row.message.test(m)), reported.join("; "));
        });
    }

    it("every validating policy has a row above", () => {
        const covered = new Set(table.map((row) => row.policy));
        for (const p of policies.filter((p) => p.validateResource)) assert.ok(covered.has(p.name), p.name);
    });

    it("command-secrets-sealed: leaves sealed credentials alone, seals a plain one", async () => {
        const sealedMap = { type: TYPE.command, props: { environment: new Secret({ TOKEN: "t", HOST: "h" }) } };
        const sealedValue = { type: TYPE.command, props: { environment: { HCLOUD_TOKEN: new Secret("t"), HOST: "h" } } };
        assert.strictEqual(await remediation("command-secrets-sealed", sealedMap), undefined);
        assert.strictEqual(await remediation("command-secrets-sealed", sealedValue), undefined);
        const plain = { type: TYPE.command, props: { create: "x", environment: { RAILS_MASTER_KEY: "plain", HOST: "h" } } };
        const fixed = (await remediation("command-secrets-sealed", plain)) as { create: string; environment: Record<string, unknown> };
        assert.ok(fixed.environment.RAILS_MASTER_KEY instanceof Secret);
        assert.strictEqual((fixed.environment.RAILS_MASTER_KEY as Secret).value, "plain");
        assert.strictEqual(fixed.environment.HOST, "h");
        assert.strictEqual(fixed.create, "x");
    });

    it("reads the stack from the URN", () => {
        assert.strictEqual(stackOf("urn:pulumi:production::rails-stack::hcloud:index/server:Server::shop-production-web-1"), "production");
        assert.strictEqual(stackOf("urn:pulumi:pr-7::rails-stack::rails-stack:hosts:Hosts$hcloud:index/volume:Volume::v"), "pr-7");
    });
});

/** Secret wrappers of the recorded inputs, as the policy SDK's remediation sees them. */
function withSecrets(value: unknown): unknown {
    if (isSecretValue(value)) return new Secret(revealSecrets(value.value));
    if (Array.isArray(value)) return value.map(withSecrets);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withSecrets(v)]));
    return value;
}

describe("policy pack: the committed stacks pass every policy", () => {
    for (const stack of ["staging", "production", "pr-7"]) {
        it(stack, async () => {
            const plan: OkPlan = await planFor(stack);
            let checked = 0;
            for (const r of plan.resources.filter((r) => r.custom)) {
                const protect = plan.options.get(`${r.type}::${r.name}`)?.protect ?? false;
                const resource = { type: r.type, name: r.name, stack, protect, props: revealSecrets(r.inputs) as Record<string, unknown> };
                for (const p of policies.filter((p) => p.validateResource)) {
                    assert.deepStrictEqual(await violations(p.name, resource), [], `${p.name} on ${r.type} ${r.name}`);
                    checked++;
                }
                const sealed = { ...resource, props: withSecrets(r.inputs) as Record<string, unknown> };
                assert.strictEqual(await remediation("command-secrets-sealed", sealed), undefined, `${r.name} has a plain credential`);
            }
            assert.ok(checked > 50);
        });
    }
});
