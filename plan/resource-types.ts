// The Pulumi type tokens of the resources the program creates, in one place for the mocks, the
// critical-path model and the tests that find resources by type.
export const TYPE = {
    server: "hcloud:index/server:Server",
    volume: "hcloud:index/volume:Volume",
    /** Created by earlier versions only (the volume now carries its serverId): plan-compare reads old plans. */
    volumeAttachment: "hcloud:index/volumeAttachment:VolumeAttachment",
    firewall: "hcloud:index/firewall:Firewall",
    sshKey: "hcloud:index/sshKey:SshKey",
    tailnetKey: "tailscale:index/tailnetKey:TailnetKey",
    tunnel: "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
    tunnelConfig: "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
    dnsRecord: "cloudflare:index/dnsRecord:DnsRecord",
    workersRoute: "cloudflare:index/workersRoute:WorkersRoute",
    ruleset: "cloudflare:index/ruleset:Ruleset",
    r2Bucket: "cloudflare:index/r2Bucket:R2Bucket",
    r2BucketCors: "cloudflare:index/r2BucketCors:R2BucketCors",
    r2BucketLifecycle: "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    r2BucketLock: "cloudflare:index/r2BucketLock:R2BucketLock",
    command: "command:local:Command",
} as const;

/** The data sources the program reads, each a cloud round trip. The tunnel's connector token: */
export const TUNNEL_TOKEN_INVOKE = "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken";
/** The capacity check (components/capacity.ts): server types' availability per location ... */
export const SERVER_TYPES_INVOKE = "hcloud:index/getServerTypes:getServerTypes";
/** ... and the stack's existing server, read in parallel with it. */
export const SERVERS_INVOKE = "hcloud:index/getServers:getServers";
