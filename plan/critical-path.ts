// The deploy's critical path under latency-injecting mocks: every resource takes a typical cloud
// create time (scaled down), so the time until the deploy Command can start shows what the graph
// makes it wait for. The ideal is computed from what each resource really needs (NEEDS), not from
// the graph under test; measured / ideal above 1 is waiting for something it does not need.
import type * as pulumi from "@pulumi/pulumi";
import { runPlan, StackConfigSource } from "./run";

/** Typical create times in seconds (Hetzner server boot to `running`, API round trips otherwise). */
export const MODEL_SECONDS: Readonly<Record<string, number>> = {
    "hcloud:index/server:Server": 40,
    "hcloud:index/volume:Volume": 5,
    "hcloud:index/volumeAttachment:VolumeAttachment": 5,
    "hcloud:index/firewall:Firewall": 1,
    "hcloud:index/sshKey:SshKey": 1,
    "tailscale:index/tailnetKey:TailnetKey": 1,
    "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": 2,
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": 2,
    "cloudflare:index/dnsRecord:DnsRecord": 2,
    "cloudflare:index/workersRoute:WorkersRoute": 1,
    "cloudflare:index/r2Bucket:R2Bucket": 3,
    "cloudflare:index/r2BucketCors:R2BucketCors": 2,
    "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle": 2,
    "cloudflare:index/accountToken:AccountToken": 2,
    // Delete-only commands do nothing at create; the deploy's own run time is not part of the wait.
    "command:local:Command": 0,
};
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
const DEPLOY = kind("command:local:Command", "-deploy-kamal");
const EMPTIER = kind("command:local:Command", "-emptier");
const TUNNEL_CLEANUP = kind("command:local:Command", "-tunnel-connections-cleanup");
const SERVER = kind("hcloud:index/server:Server");
const TUNNEL = kind("cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared");
const BUCKET = kind("cloudflare:index/r2Bucket:R2Bucket");
const TOKEN = kind("cloudflare:index/accountToken:AccountToken");

/**
 * What each kind needs before it can be created, whatever the program says: its data inputs, and
 * the destroy order: the server goes before the tunnel's connections are cleaned up and (review
 * stacks) before its buckets are emptied.
 */
const NEEDS: readonly [Kind, readonly Kind[]][] = [
    [DEPLOY, [SERVER, kind("hcloud:index/volumeAttachment:VolumeAttachment"), kind("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"), kind("cloudflare:index/dnsRecord:DnsRecord"), BUCKET, TOKEN]],
    [SERVER, [kind("hcloud:index/firewall:Firewall"), kind("hcloud:index/sshKey:SshKey"), kind("tailscale:index/tailnetKey:TailnetKey"), EMPTIER, TUNNEL_CLEANUP]],
    [kind("hcloud:index/volumeAttachment:VolumeAttachment"), [SERVER, kind("hcloud:index/volume:Volume")]],
    [kind("cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"), [TUNNEL]],
    [kind("cloudflare:index/dnsRecord:DnsRecord"), [TUNNEL]],
    [EMPTIER, [BUCKET, TOKEN]],
    [TUNNEL_CLEANUP, [TUNNEL]],
];

const matches = (k: Kind, r: { type: string; name: string }): boolean => r.type === k.type && (!k.suffix || r.name.endsWith(k.suffix));
// Providers are configured locally, in no time; any other type not listed takes one round trip.
const latencyOf = (type: string): number => (type.startsWith("pulumi:providers:") ? 0 : (MODEL_SECONDS[type] ?? 1));

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
        const result = { seconds: start.seconds + latencyOf(r.type), chain: [r.name, ...start.chain] };
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
            await sleep(args.custom === false ? 0 : latencyOf(args.type));
            return mocks.newResource(args);
        },
        async call(args) {
            await sleep(INVOKE_SECONDS);
            return mocks.call(args);
        },
    });
    const result = await runPlan(stack, source, { wrapMocks, readCommit: () => ({ version: "bench" }) });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const ideal = idealStart(result.resources.filter((r) => r.custom));
    return { measured, ideal: ideal.seconds, idealChain: ideal.chain };
}
