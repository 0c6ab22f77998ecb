// The Pulumi type tokens of the resources the program creates, in one place for the mocks, the
// critical-path model and the tests that find resources by type.
export const TYPE = {
    server: "hcloud:index/server:Server",
    volume: "hcloud:index/volume:Volume",
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
    accountToken: "cloudflare:index/accountToken:AccountToken",
    command: "command:local:Command",
} as const;

/** The one data source the program reads: the tunnel's connector token. */
export const TUNNEL_TOKEN_INVOKE = "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken";
