// The typed, validated stack settings every renderer and component receives. Plain data only:
// secret values never enter this object (see config/load.ts for the secret Outputs).

export type StackKind = "production" | "staging" | "review";
/** Where Solid Queue runs: inside Puma, or in a `job` role container beside the web container. */
export type SolidQueueMode = "puma" | "container";
export type TlsMode = "acme" | "tunnel";
export type DatabaseName = "primary" | "queue" | "cache" | "cable";
export type R2Jurisdiction = "default" | "eu" | "fedramp";
export type R2Location = "apac" | "eeur" | "enam" | "weur" | "wnam" | "oc";

export const DATABASE_NAMES: readonly DatabaseName[] = ["primary", "queue", "cache", "cable"];

export interface Replication {
    /** Litestream duration strings, e.g. "1s", "720h". */
    readonly syncInterval: string;
    readonly retention: string;
    /** A full snapshot this often, so a restore replays at most this much WAL. */
    readonly snapshotInterval: string;
}

export interface Settings {
    readonly project: string;
    readonly app: string;
    /** Stack name: production, staging or pr-<n>. */
    readonly stack: string;
    readonly kind: StackKind;
    /** Set on review stacks only. */
    readonly prNumber?: number;
    readonly railsEnv: string;
    readonly domain: string;
    /** Non-empty; the first is the primary hostname. */
    readonly hostnames: readonly string[];
    readonly protect: boolean;
    readonly hetzner: {
        readonly location: string;
        /** ARM64 type of the stack's single host. */
        readonly serverType: string;
        readonly publicIpv4: boolean;
        readonly tailscaleDirectUdp: boolean;
        readonly volumeSizeGb: number;
    };
    readonly host: {
        /** "HH:MM" (UTC): when unattended-upgrades may reboot for an update that needs it; null: never on its own. */
        readonly rebootWindow: string | null;
    };
    readonly registry: {
        readonly server: string;
        readonly username: string;
        readonly image: string;
    };
    readonly deploy: {
        /** The app's checkout as configured (absolute, or relative to the project directory). */
        readonly appDir: string;
        /** The configured image tag; undefined: the checkout's commit, resolved by config/load.ts. */
        readonly appVersion?: string;
        /** The digest the prebuilt image of appVersion must have (buildImage false). */
        readonly appImageDigest?: string;
        /** Kamal builds and pushes the image (true) or only pulls an existing one (false). */
        readonly buildImage: boolean;
        /** Kamal's registry build cache (builder.cache). */
        readonly buildCache: boolean;
        readonly solidQueue: SolidQueueMode;
        /** Pre-deploy database copies kept on the volume. */
        readonly backupsKept: number;
        /** Kamal's deploy_timeout, seconds. */
        readonly deployTimeout: number;
    };
    readonly cloudflare: {
        readonly accountId: string;
        readonly zoneId: string;
        readonly tlsMode: TlsMode;
    };
    readonly tailscale: {
        readonly tailnet: string;
        /** The host's tags: tailscaleTags, or reviewTailscaleTags on review stacks. */
        readonly tags: readonly string[];
        readonly keyExpirySeconds: number;
        readonly auth: "apiKey" | "oauth";
    };
    readonly storage: {
        /** The buckets this stack uses: its own, or on a review stack the review pool's (staging's). */
        readonly backupsBucket: string;
        readonly attachmentsBucket: string;
        /** Staging only: the review pool it creates for the review stacks, and when R2 expires what is left there. */
        readonly reviewPool?: { readonly backupsBucket: string; readonly attachmentsBucket: string; readonly expiryDays: number };
        readonly location?: R2Location;
        readonly jurisdiction: R2Jurisdiction;
        /** null: the database is not replicated. */
        readonly litestream: Readonly<Record<DatabaseName, Replication | null>>;
        /** GB the buckets are assumed to hold: the cost estimate's figure, nothing deployed reads it. */
        readonly assumedStoredGb: number;
    };
}
