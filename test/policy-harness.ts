// A stand-in for what @pulumi/policy hands the pack's policies (server.js: validateResource with
// ResourceValidationArgs, validateStack with PolicyResource lists), for test/policy.spec.ts, and the
// committed stacks as the policies would see them.
import * as assert from "assert";
import type * as pulumi from "@pulumi/pulumi";
import { PolicyResource, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy, Secret, StackValidationPolicy } from "@pulumi/policy";
import { isSecretValue, revealSecrets, runPlan, stackConfigFromFiles } from "../plan/run";
import { policies } from "../policy/policies";
import { ROOT, testCheckout } from "./support";

/** What the policy SDK throws for a resource a typed policy does not apply to (server.js catches it). */
class NotApplicable extends Error {}

export interface Resource {
    readonly type: string;
    readonly name?: string;
    readonly stack?: string;
    readonly props: Record<string, unknown>;
    readonly protect?: boolean;
}

const optsFor = (resource: Resource): PolicyResourceOptions =>
    ({ protect: resource.protect ?? false, ignoreChanges: [], aliases: [], additionalSecretOutputs: [], customTimeouts: {} }) as unknown as PolicyResourceOptions;
const urnOf = (resource: Resource): string => `urn:pulumi:${resource.stack ?? "staging"}::rails-stack::${resource.type}::${resource.name ?? "r"}`;
/** The policy SDK's isType: the class's registered Pulumi type token (policy.js getPulumiType). */
const isTypeFor = (type: string) => (cls: unknown): boolean => (cls as { __pulumiType?: string }).__pulumiType === type;

function argsFor(resource: Resource): ResourceValidationArgs {
    const { type, props } = resource;
    const opts = optsFor(resource);
    const isType = isTypeFor(type);
    // A stand-in for what the policy SDK hands a policy (server.js): only the fields policies read.
    return {
        type,
        props,
        urn: urnOf(resource),
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

export const resourcePolicies = policies.filter((p): p is ResourceValidationPolicy => !("validateStack" in p));
export const stackPolicies = policies.filter((p): p is StackValidationPolicy => "validateStack" in p);

const policy = (name: string): ResourceValidationPolicy => {
    const found = resourcePolicies.find((p) => p.name === name);
    if (!found) throw new Error(`no resource policy ${name}`);
    return found;
};

/** A resource of a stack: `from` names, per property, the resources (by `name`) that property was computed from. */
export interface StackResource extends Resource {
    readonly name: string;
    readonly from?: Record<string, readonly string[]>;
}

/** What the policy SDK hands a stack policy (server.js analyzeStack): resources linked by dependencies. */
function stackResources(resources: readonly StackResource[]): PolicyResource[] {
    const built = resources.map((r) => ({
        type: r.type,
        props: r.props,
        urn: urnOf(r),
        name: r.name,
        opts: optsFor(r),
        dependencies: [],
        propertyDependencies: {},
        isType: isTypeFor(r.type),
        asType: (cls: unknown) => (isTypeFor(r.type)(cls) ? r.props : undefined),
    })) as unknown as PolicyResource[];
    const byName = new Map(built.map((b) => [b.name, b]));
    resources.forEach((r, i) => {
        for (const [prop, names] of Object.entries(r.from ?? {})) built[i].propertyDependencies[prop] = names.map((n) => byName.get(n)!);
        built[i].dependencies = [...new Set(Object.values(built[i].propertyDependencies).flat())];
    });
    return built;
}

/** The violations a stack policy reports, as `<resource name>: <message>`. */
export async function stackViolations(name: string, resources: readonly StackResource[]): Promise<string[]> {
    const found = stackPolicies.find((p) => p.name === name);
    if (!found) throw new Error(`no stack policy ${name}`);
    const reported: string[] = [];
    const args = { resources: stackResources(resources), stackTags: new Map(), getConfig: () => ({}), notApplicable: () => assert.fail("not applicable") };
    await found.validateStack(args as unknown as Parameters<StackValidationPolicy["validateStack"]>[0], (message, urn) => reported.push(`${urn?.split("::").pop() ?? "(stack)"}: ${message}`));
    return reported;
}

/** The violations a policy reports for a resource (validating policies). */
export async function violations(name: string, resource: Resource): Promise<string[]> {
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
export async function remediation(name: string, resource: Resource): Promise<Record<string, unknown> | undefined> {
    return (await policy(name).remediateResource?.(argsFor(resource))) ?? undefined;
}


/** Secret wrappers of the recorded inputs, as the policy SDK's remediation sees them. */
export function withSecrets(value: unknown): unknown {
    if (isSecretValue(value)) return new Secret(revealSecrets(value.value));
    if (Array.isArray(value)) return value.map(withSecrets);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withSecrets(v)]));
    return value;
}

/**
 * A committed stack as the policy SDK would see it after `pulumi up`: each resource's inputs and
 * the mocks' outputs (minted keys and tokens), and, per property, the resources whose ids the value
 * holds. That is what the engine's property dependencies say for this program, whose cross-resource
 * inputs are ids (the server's firewallIds are `firewall.id`); the mocks give every resource a
 * distinct id (plan/mocks.ts).
 */
export async function committedStack(stack: string) {
    const ids = new Map<string, string>();
    const states = new Map<string, Record<string, unknown>>();
    const wrapMocks = (mocks: pulumi.runtime.Mocks): pulumi.runtime.Mocks => ({
        newResource: async (args) => {
            const result = await mocks.newResource(args);
            if (result.id) ids.set(args.name, result.id);
            states.set(args.name, result.state as Record<string, unknown>);
            return result;
        },
        call: (args) => mocks.call(args),
    });
    const plan = await runPlan(stack, stackConfigFromFiles(ROOT, stack, {}), { readCommit: testCheckout, wrapMocks });
    if (!plan.ok) throw new Error(plan.errors.join("\n"));
    const nameById = new Map([...ids].map(([name, id]) => [id, name]));
    const custom = plan.resources.filter((r) => r.custom);
    const resources: StackResource[] = custom.map((r) => {
        const props = revealSecrets({ ...r.inputs, ...states.get(r.name) }) as Record<string, unknown>;
        const from: Record<string, string[]> = {};
        for (const [prop, value] of Object.entries(r.inputs)) {
            const holds = JSON.stringify(revealSecrets(value)).match(/[\w-]+/g) ?? [];
            const sources = [...new Set(holds.map((t) => nameById.get(t)).filter((n): n is string => n !== undefined && n !== r.name))];
            if (sources.length > 0) from[prop] = sources;
        }
        return { type: r.type, name: r.name, stack, protect: plan.options.get(`${r.type}::${r.name}`)?.protect ?? false, props, from };
    });
    return { plan, custom, resources };
}

