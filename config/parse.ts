// Pure validation of raw stack config into Settings. Every problem is collected, none thrown, so a
// user sees all of them at once; each names the key, the bad value and what is allowed. Storage
// (buckets, R2 key pairs, Litestream) is parsed in parse-storage.ts.
import { checkKeys } from "./check-keys";
import { PROJECT } from "./keys";
import { parseStorage } from "./parse-storage";
import { Problems } from "./problems";
import { RawConfig } from "./raw";
import { defaultOf, list, MAX_LABEL, Reader, show } from "./reader";
import { Settings, SolidQueueMode, StackKind, TlsMode } from "./settings";
import { nearest } from "./suggest";
import { prefixFirstLabel } from "../lib/naming";

export type { RawConfig } from "./raw";

export type ParseResult = { ok: true; settings: Settings } | { ok: false; errors: string[] };

export const ARM_LOCATIONS = ["fsn1", "nbg1", "hel1"] as const;
/** Hetzner locations that exist but sell no cax (Ampere) servers. */
const NON_ARM_LOCATIONS = ["ash", "hil", "sin"];
export const ARM_SERVER_TYPES = ["cax11", "cax21", "cax31", "cax41"] as const;
const X86_SERVER_TYPE = /^(cx|cpx|ccx)\d+$/;
/** Hetzner volume size limits, GB. */
export const VOLUME_SIZE_GB = { min: 10, max: 10240 } as const;
/**
 * A host's auth key is minted for one boot and used by cloud-init within minutes: a day is ample,
 * and a leaked key is worthless after it (Tailscale would allow 90 days).
 */
export const TAILNET_KEY_EXPIRY_SECONDS = { min: 300, max: 86_400 } as const;
const RESERVED_RAILS_ENVS = ["development", "test"];
const TLS_MODES: readonly TlsMode[] = ["acme", "tunnel"];
const SOLID_QUEUE_MODES: readonly SolidQueueMode[] = ["puma", "container"];
export const DEPLOY_BACKUPS = { min: 1, max: 100 } as const;
/** Kamal's deploy_timeout: long enough for a boot that migrates, short of a hung deploy. */
export const DEPLOY_TIMEOUT = { min: 5, max: 600 } as const;
/** Docker's tag grammar (distribution/reference): what Kamal tags the image with. */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A time of day, 00:00 to 23:59 (unattended-upgrades' Automatic-Reboot-Time, passed to shutdown -r). */
const TIME_OF_DAY = /^([01]\d|2[0-3]):[0-5]\d$/;
export const REBOOT_OFF = "off";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const APP_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const RAILS_ENV = /^[a-z][a-z0-9_]*$/;
const HEX32 = /^[0-9a-f]{32}$/;
const TAILSCALE_TAG = /^tag:[A-Za-z][A-Za-z0-9-]*$/;
/** The host tag of each stack kind when tailscaleTags / reviewTailscaleTags are unset: one per environment. */
export const DEFAULT_HOST_TAGS: Readonly<Record<StackKind, string>> = { production: "tag:rails-production", staging: "tag:rails-staging", review: "tag:rails-review" };
const REGISTRY_USERNAME = /^[A-Za-z0-9_][A-Za-z0-9._@+-]{0,254}$/;
/** An OCI content digest as registries and `docker buildx` print it (image-spec descriptor.md). */
const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;
const IMAGE_PATH = /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const REVIEW_STACK = /^pr-(\d+)$/;
const MAX_PR_NUMBER = 999_999;
/** Names people give these stacks elsewhere. */
const STACK_ABBREVIATIONS: Readonly<Record<string, string>> = { prod: "production", prd: "production", stage: "staging", stg: "staging" };



export function isDnsName(name: string): boolean {
    const labels = name.split(".");
    return name.length <= 253 && labels.length >= 2 && labels.every((label) => DNS_LABEL.test(label));
}

/** Stack name → kind, or a problem naming the rule (checked before any stack file is looked for). */
export function stackKind(stack: string): { kind: StackKind; prNumber?: number } | { error: string } {
    if (stack === "production" || stack === "staging") return { kind: stack };
    const review = REVIEW_STACK.exec(stack);
    if (review && !review[1].startsWith("0") && Number(review[1]) <= MAX_PR_NUMBER) {
        return { kind: "review", prNumber: Number(review[1]) };
    }
    if (stack.startsWith("pr-")) {
        return { error: `stack ${show(stack)}: a review stack is named pr-<pull request number>, 1 to ${MAX_PR_NUMBER}, e.g. pr-42` };
    }
    // "PR 7", "pr_7", "pr7": a review stack spelt another way.
    const spelt = /^pr[^a-z0-9]*(\d+)$/i.exec(stack);
    const meant = spelt ? `pr-${Number(spelt[1])}` : (STACK_ABBREVIATIONS[stack.toLowerCase()] ?? nearest(stack, ["production", "staging"]));
    const hint = meant !== undefined && "kind" in stackKind(meant) ? `; did you mean ${meant}?` : "";
    return { error: `stack ${show(stack)}: allowed stack names are production, staging and pr-<number>${hint}` };
}

function parseHostnames(
    read: Reader,
    problems: Problems,
    app: string | undefined,
    domain: string | undefined,
    stack: { kind: StackKind; name: string },
): string[] | undefined {
    const configured = read.stringArray("hostnames");
    if (configured !== undefined && configured.length === 0) {
        problems.add("hostnames", "is an empty list; give at least one hostname inside the zone, or unset it for the default");
        return undefined;
    }
    const advancedCertificate = read.boolean("advancedCertificate") ?? defaultOf("advancedCertificate");
    if (!domain || !app) return undefined;
    const base = configured ?? [stack.kind === "production" ? `${app}.${domain}` : `${app}-staging.${domain}`];
    // Review stacks inherit staging's list; their own names get the stack as a prefix.
    const review = stack.kind === "review";
    const prefix = `${stack.name}-`;
    const hostnames = review ? base.map((h) => prefixFirstLabel(stack.name, h)) : base;
    hostnames.forEach((hostname, i) => {
        const key = `hostnames[${i}]`;
        const firstLabel = hostname.split(".")[0];
        const below = hostname.endsWith(`.${domain}`) ? hostname.slice(0, -domain.length - 1).split(".") : [];
        if (review && base[i] === domain) {
            problems.add(
                key,
                `${show(hostname)} is outside the zone: review stack ${stack.name} prefixes ${show(prefix)} to staging's hostname ${domain}, the zone's apex; give staging a hostname one label below the zone, e.g. ${app}-staging.${domain}`,
            );
        } else if (review && firstLabel.length > MAX_LABEL && isDnsName(base[i])) {
            problems.add(
                key,
                `${show(hostname)}: its first label is ${firstLabel.length} chars, over DNS's ${MAX_LABEL}, because review stack ${stack.name} prefixes ${show(prefix)} to staging's ${show(base[i])}; shorten that label to at most ${MAX_LABEL - prefix.length} chars`,
            );
        } else if (!isDnsName(hostname)) {
            problems.add(key, `${show(hostname)} is not a valid lowercase DNS name (labels a-z, 0-9, '-', at most 63 chars)`);
        } else if (hostname !== domain && below.length === 0) {
            problems.add(key, `${show(hostname)} is outside the zone; allowed: ${domain} or a name ending in .${domain}`);
        } else if (below.length > 1 && !advancedCertificate) {
            // Universal SSL's certificate names the apex and one wildcard level, nothing deeper.
            const flat = (review ? base[i] : hostname).slice(0, -domain.length - 1).replace(/\./g, "-");
            problems.add(
                key,
                `${show(hostname)} is ${below.length} labels below the zone, and Cloudflare's Universal SSL covers only ${domain} and *.${domain}; use one label (e.g. ${flat}.${domain}), or set advancedCertificate: true if the zone has a certificate for it (Advanced Certificate Manager or Total TLS)`,
            );
        } else if (hostnames.indexOf(hostname) !== i) {
            problems.add(key, `${show(hostname)} is listed twice; each hostname may appear once`);
        }
    });
    return hostnames;
}

function parseRebootWindow(read: Reader, problems: Problems, kind: StackKind | undefined): string | null | undefined {
    const value = read.string("rebootWindow") ?? defaultOf("rebootWindow");
    if (value !== REBOOT_OFF && !TIME_OF_DAY.test(value)) {
        problems.add("rebootWindow", `${show(value)} is not allowed; allowed: a UTC time of day 'HH:MM' (00:00 to 23:59), or '${REBOOT_OFF}'`);
        return undefined;
    }
    return kind === "review" || value === REBOOT_OFF ? null : value;
}

export function parseConfig(raw: RawConfig, stackName: string): ParseResult {
    const problems = new Problems();
    const read = new Reader(raw, problems, checkKeys(raw, problems));

    const stackInfo = stackKind(stackName);
    if ("error" in stackInfo) problems.errors.push(stackInfo.error);
    const kind = "kind" in stackInfo ? stackInfo.kind : undefined;
    const stack = kind ? { kind, name: stackName } : undefined;

    const app = read.string("app");
    if (app !== undefined && (!APP_NAME.test(app) || app.length < 2 || app.length > 20)) {
        problems.add("app", `${show(app)} is not a valid service name; allowed: 2-20 chars of a-z, 0-9 and single '-', starting with a letter`);
    }
    const validApp = app !== undefined && APP_NAME.test(app) && app.length >= 2 && app.length <= 20 ? app : undefined;

    const domain = read.string("domain");
    if (domain !== undefined && !isDnsName(domain)) {
        problems.add("domain", `${show(domain)} is not a valid lowercase domain; e.g. example.com`);
    }
    const validDomain = domain !== undefined && isDnsName(domain) ? domain : undefined;
    const hostnames = stack ? parseHostnames(read, problems, validApp, validDomain, stack) : undefined;

    const railsEnv = read.string("railsEnv") ?? (kind === "production" ? "production" : "staging");
    if (!RAILS_ENV.test(railsEnv)) {
        problems.add("railsEnv", `${show(railsEnv)} is not a Rails environment name; allowed: lowercase letters, digits and '_', starting with a letter`);
    } else if (RESERVED_RAILS_ENVS.includes(railsEnv)) {
        problems.add("railsEnv", `${show(railsEnv)} is not deployable (the image is bundled without its gems); use production, staging or another name`);
    }

    const locationValue = read.string("location") ?? defaultOf("location");
    let location: string | undefined = locationValue;
    if (!(ARM_LOCATIONS as readonly string[]).includes(locationValue)) {
        const why = NON_ARM_LOCATIONS.includes(locationValue) ? "has no ARM64 (cax) servers" : "is not a Hetzner location";
        problems.add("location", `${show(locationValue)} ${why}; allowed: ${list(ARM_LOCATIONS)}`);
        location = undefined;
    }

    const serverTypeValue = read.string("webServerType") ?? defaultOf("webServerType");
    let serverType: string | undefined = serverTypeValue;
    if (!(ARM_SERVER_TYPES as readonly string[]).includes(serverTypeValue)) {
        const why = X86_SERVER_TYPE.test(serverTypeValue) ? "is an x86 type; only ARM64 types are allowed" : "is not a Hetzner ARM64 server type";
        problems.add("webServerType", `${show(serverTypeValue)} ${why}: ${list(ARM_SERVER_TYPES)}`);
        serverType = undefined;
    }

    const volumeSize = read.has("volumeSize") ? read.integer("volumeSize", VOLUME_SIZE_GB) : defaultOf("volumeSize");
    const publicIpv4 = read.boolean("publicIpv4") ?? defaultOf("publicIpv4");
    const tailscaleDirectUdp = read.boolean("tailscaleDirectUdp") ?? defaultOf("tailscaleDirectUdp");
    const protectSetting = read.autoBoolean("protect");
    const rebootWindow = parseRebootWindow(read, problems, kind);


    const image = read.string("image");
    if (image !== undefined) {
        // Docker reads a first segment with '.' or ':' as a registry host.
        const hasHostOrTag = /^[^/]*[.:][^/]*\//.test(image) || image.includes(":");
        if (hasHostOrTag || !IMAGE_PATH.test(image)) {
            const why = hasHostOrTag
                ? "must not carry a registry host or tag (set registryServer; Kamal tags images itself)"
                : "is not a valid image repository";
            problems.add("image", `${show(image)} ${why}; e.g. acme/shop`);
        }
    }
    const registryServer = read.string("registryServer") ?? defaultOf("registryServer");
    const [registryHost, registryPort] = registryServer.split(":");
    if (!isDnsName(registryHost) || (registryPort !== undefined && !/^\d{1,5}$/.test(registryPort))) {
        problems.add("registryServer", `${show(registryServer)} is not a registry host; e.g. ghcr.io or registry.example.com:5000`);
    }
    const registryUsername = read.string("registryUsername");
    // Rendered into deploy.yml, which Kamal runs through ERB: only what registries use for names
    // (GHCR and Docker Hub users, `_json_key`, `oauth2accesstoken`, Quay's `org+robot`, emails).
    if (registryUsername !== undefined && !REGISTRY_USERNAME.test(registryUsername)) {
        problems.add("registryUsername", `${show(registryUsername)} is not a registry user name; allowed: letters, digits, '_', '.', '@', '+' and '-', starting with a letter, digit or '_' (deploy.yml goes through Kamal's ERB, so '<%' and the like are refused)`);
    }

    const appDir = read.string("appDir");
    if (appDir !== undefined && /["\\:\n]/.test(appDir)) {
        problems.add("appDir", `${show(appDir)} contains '"', '\\', ':' or a newline, which Kamal's file mappings cannot carry; move or link the checkout`);
    }
    const appVersion = read.string("appVersion");
    if (appVersion !== undefined && !IMAGE_TAG.test(appVersion)) {
        problems.add("appVersion", `${show(appVersion)} is not a valid image tag; allowed: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 chars`);
    }
    const buildImage = read.boolean("buildImage") ?? defaultOf("buildImage");
    const appImageDigest = read.string("appImageDigest");
    if (appImageDigest !== undefined && !IMAGE_DIGEST.test(appImageDigest)) {
        problems.add("appImageDigest", `${show(appImageDigest)} is not an image digest; allowed: sha256: then 64 lowercase hex characters (docker buildx imagetools inspect <image>:<tag> prints it)`);
    } else if (appImageDigest !== undefined && buildImage) {
        problems.add("appImageDigest", "is set with buildImage: true, where Kamal builds the image itself; it pins an image CI pushed (buildImage: false)");
    } else if (appImageDigest !== undefined && appVersion === undefined) {
        problems.add("appVersion", "is missing: appImageDigest pins the image of one tag; set appVersion to that tag");
    } else if (appImageDigest === undefined && kind === "production" && !buildImage) {
        problems.add("appImageDigest", `is missing: production deploys a prebuilt image only by the digest that was reviewed, so a moved tag cannot reach it; set it to the digest staging's deploy of that version printed ("image: <image>:<tag> is sha256:<64 hex>")`);
    }
    if (buildImage && !read.has("registryPushPassword")) {
        problems.add("registryPushPassword", "is missing: with buildImage: true Kamal pushes from the deployer with it, while the hosts get registryPassword, which should only pull; set it with: pulumi config set --secret registryPushPassword <token>");
    } else if (!buildImage && read.has("registryPushPassword")) {
        problems.add("registryPushPassword", "is set with buildImage: false, where nothing is pushed; remove it (pulumi config rm registryPushPassword)");
    }
    const buildCache = read.boolean("buildCache") ?? defaultOf("buildCache");
    const solidQueue = read.oneOf("solidQueue", SOLID_QUEUE_MODES) ?? (read.has("solidQueue") ? undefined : defaultOf("solidQueue"));
    const deployBackups = read.has("deployBackups") ? read.integer("deployBackups", DEPLOY_BACKUPS) : defaultOf("deployBackups");
    const deployTimeout = read.has("deployTimeout") ? read.integer("deployTimeout", DEPLOY_TIMEOUT) : defaultOf("deployTimeout");

    for (const key of ["cloudflareAccountId", "cloudflareZoneId"] as const) {
        const value = read.string(key);
        if (value !== undefined && !HEX32.test(value)) {
            problems.add(key, `${show(value)} is not a Cloudflare id; allowed: 32 lowercase hex characters (dashboard → Overview)`);
        }
    }

    const tlsMode = read.oneOf("tlsMode", TLS_MODES) ?? (read.has("tlsMode") ? undefined : defaultOf("tlsMode"));
    const hasApiKey = read.has("tailscaleApiKey");
    const hasOauthId = read.has("tailscaleOauthClientId");
    const hasOauthSecret = read.has("tailscaleOauthClientSecret");
    if (hasApiKey && (hasOauthId || hasOauthSecret)) {
        problems.add("tailscaleApiKey", "is set together with the OAuth client; set either tailscaleApiKey or tailscaleOauthClientId + tailscaleOauthClientSecret");
    } else if (!hasApiKey && !hasOauthId && !hasOauthSecret) {
        problems.add("tailscaleApiKey", "is missing; set it with: pulumi config set --secret tailscaleApiKey <value>, or set tailscaleOauthClientId + tailscaleOauthClientSecret");
    } else if (hasOauthId !== hasOauthSecret) {
        const missing = hasOauthId ? "tailscaleOauthClientSecret" : "tailscaleOauthClientId";
        problems.add(missing, `is missing; the OAuth client needs both tailscaleOauthClientId and tailscaleOauthClientSecret`);
    }
    const tailnet = read.string("tailscaleTailnet") ?? defaultOf("tailscaleTailnet");
    // Review stacks copy staging's config but never its host tag: the tailnet policy admits
    // pull-request CI to review hosts only (docs/hosts.md, Access).
    const tagsKey = kind === "review" ? "reviewTailscaleTags" : "tailscaleTags";
    const tags = read.stringArray(tagsKey) ?? (kind ? [DEFAULT_HOST_TAGS[kind]] : []);
    tags.forEach((tag, i) => {
        if (!TAILSCALE_TAG.test(tag)) {
            problems.add(`${tagsKey}[${i}]`, `${show(tag)} is not a Tailscale tag; allowed: 'tag:' then a letter, then letters, digits or '-', e.g. tag:rails-staging`);
        } else if (tags.indexOf(tag) !== i) {
            problems.add(`${tagsKey}[${i}]`, `${show(tag)} is listed twice`);
        }
    });
    const keyExpiry = read.has("tailscaleKeyExpiry") ? read.integer("tailscaleKeyExpiry", TAILNET_KEY_EXPIRY_SECONDS) : defaultOf("tailscaleKeyExpiry");

    const storage = parseStorage(read, problems, validApp, stack);

    if (problems.errors.length > 0) return { ok: false, errors: problems.errors };
    // Every value below was checked above; the non-null assertions only narrow the types.
    const settings: Settings = {
        project: PROJECT,
        app: validApp!,
        stack: stackName,
        kind: kind!,
        ...(stack?.kind === "review" && "prNumber" in stackInfo ? { prNumber: stackInfo.prNumber } : {}),
        railsEnv,
        domain: validDomain!,
        hostnames: hostnames!,
        protect: kind === "review" ? false : (protectSetting ?? kind === "production"),
        hetzner: {
            location: location!,
            serverType: serverType!,
            publicIpv4,
            tailscaleDirectUdp,
            volumeSizeGb: volumeSize!,
        },
        host: { rebootWindow: rebootWindow ?? null },
        registry: { server: registryServer, username: registryUsername!, image: image! },
        deploy: {
            appDir: appDir!,
            ...(appVersion !== undefined ? { appVersion } : {}),
            ...(appImageDigest !== undefined ? { appImageDigest } : {}),
            buildImage,
            buildCache,
            solidQueue: solidQueue!,
            backupsKept: deployBackups!,
            deployTimeout: deployTimeout!,
        },
        cloudflare: {
            accountId: read.string("cloudflareAccountId")!,
            zoneId: read.string("cloudflareZoneId")!,
            tlsMode: tlsMode!,
        },
        tailscale: {
            tailnet,
            tags,
            keyExpirySeconds: keyExpiry!,
            auth: hasApiKey ? "apiKey" : "oauth",
        },
        storage: storage as Settings["storage"],
    };
    return { ok: true, settings: deepFreeze(settings) };
}

function deepFreeze<T>(value: T): T {
    if (value && typeof value === "object") {
        Object.values(value).forEach(deepFreeze);
        Object.freeze(value);
    }
    return value;
}
