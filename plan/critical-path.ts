// The deploy's critical path under latency-injecting mocks: every resource takes a typical cloud
// create time (scaled down), so the time until the deploy Command can start shows what the graph
// makes it wait for. The ideal is computed from what each resource really needs (NEEDS), not from
// the graph under test; measured / ideal above 1 is waiting for something it does not need.
import type * as pulumi from "@pulumi/pulumi";
import { SERVER_TYPES_INVOKE, SERVERS_INVOKE, TUNNEL_TOKEN_INVOKE, TYPE } from "./resource-types";
import { runPlan } from "./run";
import type { StackConfigSource } from "./stack-config";

/** Typical create times in seconds (Hetzner server boot to `running`, API round trips otherwise). */
export const MODEL_SECONDS: Readonly<Record<string, number>> = {
    [TYPE.server]: 40,
    // Created with its serverId: the attach is part of it.
    [TYPE.volume]: 5,
    [TYPE.firewall]: 1,
    [TYPE.sshKey]: 1,
    [TYPE.tailnetKey]: 1,
    [TYPE.tunnel]: 2,
    [TYPE.tunnelConfig]: 2,
    [TYPE.dnsRecord]: 2,
    [TYPE.workersRoute]: 1,
    [TYPE.r2Bucket]: 3,
    [TYPE.r2BucketCors]: 2,
    [TYPE.r2BucketLifecycle]: 2,
    [TYPE.r2BucketLock]: 2,
    // Delete-only commands do nothing at create; the deploy's own run time is not part of the wait.
    [TYPE.command]: 0,
};
/** Commands that do work at create: the host's power steps look the server up (one API call). */
const COMMAND_SECONDS: readonly [suffix: string, seconds: number][] = [
    ["-power-off", 1],
    ["-power-on", 1],
];
/** Invokes (data sources) take a round trip too. */
export const INVOKE_SECONDS = 2;
/**
 * Real milliseconds per model second: large enough that the mock engine's own registration work
 * (a few ms per hop) stays well under 1% of the path, small enough for a two-second run per stack.
 */
const SCALE_MS = 40;

/** A resource kind: its type, narrowed by a name suffix where one type has several roles. */
interface Kind {
    readonly type: string;
    readonly suffix?: string;
}
const kind = (type: string, suffix?: string): Kind => ({ type, suffix });
const DEPLOY = kind(TYPE.command, "-deploy-kamal");
const EMPTIER = kind(TYPE.command, "-emptier");
const TUNNEL_CLEANUP = kind(TYPE.command, "-tunnel-connections-cleanup");
const SERVER = kind(TYPE.server);
const POWER_OFF = kind(TYPE.command, "-power-off");
const POWER_ON = kind(TYPE.command, "-power-on");
const VOLUME = kind(TYPE.volume);
const TUNNEL = kind(TYPE.tunnel);
const BUCKET = kind(TYPE.r2Bucket);
// Invokes take part as their token (an invoke is recorded as { type: token, name: token }).
const INVOKES = [TUNNEL_TOKEN_INVOKE, SERVER_TYPES_INVOKE, SERVERS_INVOKE];
const TUNNEL_TOKEN = kind(TUNNEL_TOKEN_INVOKE);

/**
 * What each kind needs before it can be created, whatever the program says: its data inputs, the
 * capacity check before the server is ordered (components/capacity.ts), and the destroy order: the
 * server goes before the tunnel's connections are cleaned up and (review stacks) before its
 * buckets are emptied.
 */
const NEEDS: readonly [Kind, readonly Kind[]][] = [
    [DEPLOY, [SERVER, POWER_ON, VOLUME, kind(TYPE.tunnelConfig), kind(TYPE.dnsRecord), BUCKET, kind(TYPE.r2BucketLock), TUNNEL_TOKEN]],
    [SERVER, [kind(TYPE.firewall), kind(TYPE.sshKey), kind(TYPE.tailnetKey), POWER_OFF, EMPTIER, TUNNEL_CLEANUP, kind(SERVER_TYPES_INVOKE), kind(SERVERS_INVOKE)]],
    [TUNNEL_TOKEN, [TUNNEL]],
    [VOLUME, [SERVER]],
    [POWER_ON, [SERVER]],
    [kind(TYPE.tunnelConfig), [TUNNEL]],
    [kind(TYPE.dnsRecord), [TUNNEL]],
    [TUNNEL_CLEANUP, [TUNNEL]],
];

const matches = (k: Kind, r: { type: string; name: string }): boolean => r.type === k.type && (!k.suffix || r.name.endsWith(k.suffix));
// Providers are configured locally, in no time; any other type not listed takes one round trip.
const latencyOf = (r: { type: string; name: string }): number =>
    r.type.startsWith("pulumi:providers:")
        ? 0
        : INVOKES.includes(r.type)
          ? INVOKE_SECONDS
          : (COMMAND_SECONDS.find(([suffix]) => r.type === TYPE.command && r.name.endsWith(suffix))?.[1] ?? MODEL_SECONDS[r.type] ?? 1);

export interface CriticalPath {
    /** Model seconds until the deploy Command was registered (all its inputs and dependencies done). */
    readonly measured: number;
    /** Model seconds until it could have been, given only what it needs. */
    readonly ideal: number;
    /** The chain that sets the ideal, deploy first. */
    readonly idealChain: readonly string[];
}

/** The ideal start of the deploy over the resources the plan created. */
export function idealStart(resources: readonly { type: string; name: string }[]): { seconds: number; chain: string[] } {
    const finish = new Map<string, { seconds: number; chain: string[] }>();
    const finishOf = (r: { type: string; name: string }): { seconds: number; chain: string[] } => {
        const key = `${r.type}::${r.name}`;
        const known = finish.get(key);
        if (known) return known;
        const start = startOf(r);
        const result = { seconds: start.seconds + latencyOf(r), chain: [r.name, ...start.chain] };
        finish.set(key, result);
        return result;
    };
    const startOf = (r: { type: string; name: string }): { seconds: number; chain: string[] } => {
        const needs = NEEDS.find(([k]) => matches(k, r))?.[1] ?? [];
        const before = resources.filter((other) => other !== r && needs.some((k) => matches(k, other))).map(finishOf);
        return before.reduce((a, b) => (b.seconds > a.seconds ? b : a), { seconds: 0, chain: [] as string[] });
    };
    const deploy = resources.find((r) => matches(DEPLOY, r));
    if (!deploy) throw new Error("the plan has no deploy Command");
    return startOf(deploy);
}

/** Runs the program with every create and invoke delayed by its model time. */
export async function measureCriticalPath(stack: string, source: StackConfigSource): Promise<CriticalPath> {
    // The clock starts with the first registration (the stack), after the program has loaded.
    let started: number | undefined;
    const modelNow = (): number => (Date.now() - (started ??= Date.now())) / SCALE_MS;
    const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * SCALE_MS));
    let measured = NaN;
    const wrapMocks = (mocks: pulumi.runtime.Mocks): pulumi.runtime.Mocks => ({
        async newResource(args) {
            const now = modelNow();
            if (matches(DEPLOY, args)) measured = now;
            await sleep(args.custom === false ? 0 : latencyOf(args));
            return mocks.newResource(args);
        },
        async call(args) {
            await sleep(INVOKE_SECONDS);
            return mocks.call(args);
        },
    });
    const result = await runPlan(stack, source, { wrapMocks, readCommit: () => ({ version: "bench" }) });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const ideal = idealStart([...result.resources.filter((r) => r.custom), ...result.invokes.map((i) => ({ type: i.token, name: i.token }))]);
    return { measured, ideal: ideal.seconds, idealChain: ideal.chain };
}
