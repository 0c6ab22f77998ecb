// Every stack config key, declared once. Pulumi.yaml's `config:` block and the README table are
// checked against this list by test/declarations.spec.ts, so the three cannot drift.

export type KeyType = "string" | "integer" | "boolean" | "array";

export interface KeySpec {
    readonly type: KeyType;
    readonly description: string;
    /**
     * Default written to Pulumi.yaml. The CLI treats a declared key without a default as required,
     * so optional keys default to a sentinel the parser reads as unset: "", [] or "auto".
     */
    readonly default?: string | number | boolean | readonly string[];
    /** How an unset value is derived from the stack (docs only). */
    readonly derived?: string;
    readonly secret?: boolean;
    readonly required?: boolean;
}

export const PROJECT = "rails-stack";

export const KEYS = {
    app: {
        type: "string",
        required: true,
        description: "Service name: Kamal `service`, prefix of every physical name. 2-20 chars: a-z, 0-9, '-'.",
    },
    domain: {
        type: "string",
        required: true,
        description: "The Cloudflare zone (apex domain) that serves the app, e.g. example.com.",
    },
    hostnames: {
        type: "array",
        default: [],
        derived:
            "production: [<app>.<domain>]; staging: [<app>-staging.<domain>]; pr-<n>: staging's list with 'pr-<n>-' prefixed to each first label",
        description: "App hostnames inside the zone; the first is the primary. One label below the zone keeps them under Cloudflare's Universal SSL.",
    },
    advancedCertificate: {
        type: "boolean",
        default: false,
        description:
            "Whether the zone has a certificate for hostnames more than one label below it (Advanced Certificate Manager, or Total TLS). Without it such hostnames are refused: Universal SSL covers only <domain> and *.<domain>.",
    },
    railsEnv: {
        type: "string",
        default: "",
        derived: "production on the production stack, staging otherwise",
        description: "RAILS_ENV for every container and every path derived from it (SQLite files, backups).",
    },
    location: {
        type: "string",
        default: "fsn1",
        description: "Hetzner location with ARM64 capacity: fsn1, nbg1 or hel1.",
    },
    webServerType: {
        type: "string",
        default: "cax11",
        description: "Hetzner ARM64 server type of the stack's host (web, jobs, Litestream): cax11, cax21, cax31, cax41.",
    },
    publicIpv4: {
        type: "boolean",
        default: true,
        description: "Give hosts a public IPv4 (egress only, inbound stays closed). Without it hosts cannot reach IPv4-only services such as ghcr.io.",
    },
    tailscaleDirectUdp: {
        type: "boolean",
        default: true,
        description: "Open inbound UDP 41641 for direct Tailscale connections; off forces DERP relays. The only inbound opening.",
    },
    rebootWindow: {
        type: "string",
        default: "04:00",
        description:
            "When the host may reboot after an update that needs it (a new kernel, libc): 'HH:MM' UTC, or 'off' (updates still install, the reboot is yours). Review stacks pr-<n> never reboot on their own. A change replaces the host (new user-data).",
    },
    volumeSize: {
        type: "integer",
        default: 10,
        description: "Size in GB of the Hetzner volume holding /rails/storage (10-10240).",
    },
    protect: {
        type: "string",
        default: "auto",
        derived: "true on production, false on staging; always false on pr-<n>",
        description: "Delete/rebuild protection and Pulumi `protect` on servers, volume and buckets.",
    },
    image: {
        type: "string",
        required: true,
        description: "Container image repository without registry host, e.g. acme/shop (Kamal `image`).",
    },
    registryServer: {
        type: "string",
        default: "ghcr.io",
        description: "Container registry host (Kamal `registry.server`).",
    },
    registryUsername: {
        type: "string",
        required: true,
        description: "Container registry user (Kamal `registry.username`).",
    },
    registryPassword: {
        type: "string",
        secret: true,
        required: true,
        description:
            "Registry token the hosts pull with (Kamal secret KAMAL_REGISTRY_PASSWORD): Kamal logs every host in with it, so give it read (pull) access only.",
    },
    registryPushPassword: {
        type: "string",
        default: "",
        secret: true,
        description:
            "Registry token Kamal builds and pushes with, on the deployer only (kamal build push); hosts never get it. Required with buildImage: true, refused without it.",
    },
    railsMasterKey: {
        type: "string",
        secret: true,
        required: true,
        description: "RAILS_MASTER_KEY for the stack's RAILS_ENV credentials.",
    },
    appDir: {
        type: "string",
        required: true,
        description: "The Rails app's git checkout, absolute or relative to this project: Kamal builds and deploys from it. Checked when the deploy runs.",
    },
    appVersion: {
        type: "string",
        default: "",
        derived: "the git commit checked out in appDir",
        description: "Image tag to deploy (Docker tag: letters, digits, '_', '.', '-'; at most 128). Pin it to deploy exactly what a pull request reviewed.",
    },
    buildImage: {
        type: "boolean",
        default: true,
        description: "Kamal builds and pushes the arm64 image from appDir (Docker buildx on the deployer); false: the image <registryServer>/<image>:<appVersion> must already exist (e.g. pushed by CI) and is only pulled.",
    },
    appImageDigest: {
        type: "string",
        default: "",
        description:
            "The digest (sha256:<64 hex>) CI pushed under appVersion: the deploy refuses the tag once it names another image (checked in the registry before SSH, and on the host before anything boots). Required on production with buildImage: false; only with buildImage: false.",
    },
    buildCache: {
        type: "boolean",
        default: false,
        description:
            "With buildImage: Kamal's registry build cache (builder.cache type registry, mode=max) in <registryServer>/<image>-build-cache, pushed with the registry credential; a warm build reuses every unchanged layer.",
    },
    solidQueue: {
        type: "string",
        default: "puma",
        description: "Where Solid Queue runs: puma (SOLID_QUEUE_IN_PUMA in the web container) or container (a Kamal `job` role running bin/jobs beside it). Both share the host's volume.",
    },
    deployTimeout: {
        type: "integer",
        default: 30,
        description:
            "Seconds a new container has to answer the health check (/up) before Kamal gives up on it and the old one keeps serving (Kamal deploy_timeout; 5-600). Raise it when the app's boot (db:prepare migrations) takes longer.",
    },
    deployBackups: {
        type: "integer",
        default: 5,
        description: "Copies of the primary database the pre-deploy hook keeps on the volume (1-100); the oldest are pruned.",
    },
    hcloudToken: {
        type: "string",
        secret: true,
        required: true,
        description: "Hetzner Cloud API token (read & write) of the project the stack lives in.",
    },
    cloudflareApiToken: {
        type: "string",
        secret: true,
        required: true,
        description: "Cloudflare API token; permissions in 'Prerequisites'.",
    },
    cloudflareAccountId: {
        type: "string",
        required: true,
        description: "Cloudflare account id (32 hex chars): owns the tunnel and R2 buckets.",
    },
    cloudflareZoneId: {
        type: "string",
        required: true,
        description: "Cloudflare zone id (32 hex chars) of `domain`.",
    },
    tlsMode: {
        type: "string",
        default: "acme",
        description: "acme: kamal-proxy holds a Let's Encrypt certificate (HTTP-01 through the tunnel) and cloudflared speaks TLS to it; tunnel: plain HTTP on loopback, TLS ends at Cloudflare.",
    },
    tailscaleApiKey: {
        type: "string",
        default: "",
        secret: true,
        description: "Tailscale API access token. Set this or the OAuth client pair.",
    },
    tailscaleOauthClientId: {
        type: "string",
        default: "",
        secret: true,
        description: "Tailscale OAuth client id (scopes: auth_keys, devices:core). Set with tailscaleOauthClientSecret.",
    },
    tailscaleOauthClientSecret: {
        type: "string",
        default: "",
        secret: true,
        description: "Tailscale OAuth client secret.",
    },
    tailscaleTailnet: {
        type: "string",
        default: "-",
        description: "Tailnet name; '-' is the default tailnet of the credential.",
    },
    tailscaleTags: {
        type: "array",
        default: [],
        derived: "production: [tag:rails-production]; staging: [tag:rails-staging]; pr-<n> use reviewTailscaleTags instead",
        description:
            "ACL tags for the host's auth key on production and staging; each must be in the tailnet policy's tagOwners, and the policy's ssh rule per tag says which CI tag may deploy. A change replaces the host (new user-data).",
    },
    reviewTailscaleTags: {
        type: "array",
        default: [],
        derived: "[tag:rails-review]",
        description:
            "ACL tags for the hosts of review stacks pr-<n> (set on staging, whose config they copy): never staging's tailscaleTags, so pull-request CI can be admitted to review hosts and nowhere else.",
    },
    tailscaleKeyExpiry: {
        type: "integer",
        default: 3600,
        description: "Seconds a host auth key stays valid for the first boot (300-86400): it is used once, within minutes of the server's creation.",
    },
    r2Location: {
        type: "string",
        default: "",
        description: "R2 location hint for new buckets: apac, eeur, enam, weur, wnam, oc. Unset: Cloudflare picks.",
    },
    r2Jurisdiction: {
        type: "string",
        default: "default",
        description: "R2 jurisdiction: default, eu or fedramp.",
    },
    backupsBucket: {
        type: "string",
        default: "",
        derived: "<app>-<stack>-backups",
        description: "R2 bucket for Litestream replicas of production or staging (review stacks use reviewBackupsBucket).",
    },
    attachmentsBucket: {
        type: "string",
        default: "",
        derived: "<app>-<stack>-attachments",
        description: "R2 bucket for Active Storage of production or staging (review stacks use reviewAttachmentsBucket).",
    },
    reviewBackupsBucket: {
        type: "string",
        default: "",
        derived: "<app>-review-backups",
        description:
            "The review pool's backups bucket, which staging creates and every review stack pr-<n> replicates into under its own pr-<n>/ prefix (emptied when the stack is destroyed).",
    },
    reviewAttachmentsBucket: {
        type: "string",
        default: "",
        derived: "<app>-review-attachments",
        description: "The review pool's Active Storage bucket, which staging creates; objects in it expire after reviewPoolDays.",
    },
    reviewPoolDays: {
        type: "integer",
        default: 14,
        description: "Days after which R2 deletes any object in the review pool's buckets, whatever left it there (1-365).",
    },
    r2AttachmentsAccessKeyId: {
        type: "string",
        default: "",
        secret: true,
        description:
            "S3 key id for Active Storage, scoped to attachmentsBucket alone (read and write). Minted with npm run r2-credentials, never by pulumi up. Required on production and staging.",
    },
    r2AttachmentsSecretAccessKey: {
        type: "string",
        default: "",
        secret: true,
        description: "Its S3 secret.",
    },
    r2BackupsAccessKeyId: {
        type: "string",
        default: "",
        secret: true,
        description:
            "S3 key id for Litestream, scoped to backupsBucket alone (read and write). Minted with npm run r2-credentials, never by pulumi up. Required on production and staging.",
    },
    r2BackupsSecretAccessKey: {
        type: "string",
        default: "",
        secret: true,
        description: "Its S3 secret.",
    },
    reviewR2AttachmentsAccessKeyId: {
        type: "string",
        default: "",
        secret: true,
        description: "S3 key id for review stacks' Active Storage, scoped to reviewAttachmentsBucket alone. Set on staging (review stacks copy its config) by npm run r2-credentials -- --stack staging.",
    },
    reviewR2AttachmentsSecretAccessKey: {
        type: "string",
        default: "",
        secret: true,
        description: "Its S3 secret.",
    },
    reviewR2BackupsAccessKeyId: {
        type: "string",
        default: "",
        secret: true,
        description: "S3 key id for review stacks' Litestream, scoped to reviewBackupsBucket alone. Set on staging by npm run r2-credentials -- --stack staging.",
    },
    reviewR2BackupsSecretAccessKey: {
        type: "string",
        default: "",
        secret: true,
        description: "Its S3 secret.",
    },
    r2StoredGb: {
        type: "integer",
        default: 10,
        description:
            "GB the stack's two R2 buckets are assumed to hold (Litestream replicas, Active Storage), for the plan's cost estimate only: it deploys nothing (0-1000000).",
    },
    litestreamDatabases: {
        type: "array",
        default: [],
        description:
            "Overrides of the Litestream table, '<db>=<sync>/<retention>' or '<db>=off' (db: primary, queue, cache, cable), e.g. 'cache=off'.",
    },
    litestreamSnapshotInterval: {
        type: "string",
        default: "24h",
        description:
            "How often Litestream writes a full snapshot of every replicated database (Go duration, at least each sync interval, at most each retention). A restore downloads the newest snapshot and replays the WAL written since, so this bounds restore time; shorter costs R2 storage and Class A writes (one snapshot object per database each time).",
    },
} as const satisfies Record<string, KeySpec>;

export type KeyName = keyof typeof KEYS;

/** Keys earlier versions read: setting one is an error that says why it went and what replaces it. */
export const RETIRED_KEYS: Readonly<Record<string, string>> = {
    webHosts:
        "is no longer a setting: the SQLite databases live on the volume of the stack's single host, and a second web host could not see them; remove it (scale up with webServerType)",
    jobHosts:
        "is no longer a setting: a dedicated job host could not see the SQLite databases on the app host's volume; remove it and choose where Solid Queue runs with solidQueue: puma or container",
    jobServerType: "is no longer a setting: Solid Queue runs on the stack's single host (see solidQueue); remove it",
    sshPublicKeys:
        "is no longer a setting: the host accepts SSH only through Tailscale SSH, which checks tailnet identity against the tailnet policy's ssh rules, not authorized keys; remove it (docs/hosts.md, Access)",
    rollHosts:
        "is no longer a setting: a change to what the host boots with now replaces it on every stack, with a fresh auth key (production's protection makes that a deliberate step); remove it (docs/hosts.md, Replacing the host)",
    acmeRulesetOwner:
        "is no longer a setting: the zone's http_config_settings rule is gone, since the zone's SSL mode does not change a tunnel's connection to the origin and the rule changed the challenge path for every other origin of the zone; remove it (docs/edge.md)",
};

export const KEY_NAMES = Object.keys(KEYS) as KeyName[];
