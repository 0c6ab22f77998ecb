// Kamal's configuration for one stack: a pure function of the settings, built as objects and
// serialized with `yaml`. Kamal reads it as `kamal <command> -c <dir>/deploy.yml -d <stack>` from
// the app's checkout; `secrets_path` and `hooks_path` point into <dir> too, so the app's own
// config/deploy.yml and .kamal/ are neither read nor touched. See docs/deploy.md.
import { createHash } from "crypto";
import * as YAML from "yaml";
import { DATABASE_NAMES, Settings, SolidQueueMode, TlsMode } from "../config/settings";
import { APP_UID, DEPLOY_USER, PROXY_BIND_IP, STORAGE_CONTAINER_PATH, STORAGE_HOST_PATH } from "../lib/paths";
import { projectFile } from "../lib/project";
import { shellEnv } from "../lib/shell-env";
import type { ActiveStorageSettings } from "./active-storage";
import { databaseFiles, LITESTREAM_ENV, LITESTREAM_IMAGE } from "./litestream";

/**
 * The environment variable naming the directory that holds the rendered set. deploy.yml reads it
 * through ERB (Kamal renders ERB in its config), because that directory is per machine
 * (`~/.local/state/rails-stack/<app>-<stack>`) while the rendered bytes must be the same everywhere.
 */
export const KAMAL_DIR_ENV = "RAILS_STACK_KAMAL_DIR";
/** Thruster's port in Rails 8's image (`EXPOSE 80`, `CMD ./bin/thrust ./bin/rails server`). */
export const THRUSTER_PORT = 80;
/** Rails 8's health check route (`rails/health#show`), which kamal-proxy polls while deploying. */
export const HEALTHCHECK_PATH = "/up";
/** Bridged between versions so in-flight requests for old fingerprinted assets do not 404. */
export const ASSET_PATH = "/rails/public/assets";
/** Solid Queue's supervisor in Rails 8 (`bin/jobs`), run by the `job` role in container mode. */
export const JOBS_COMMAND = "bin/jobs";

/**
 * kamal-proxy as Kamal 2.12 boots it by default (lib/kamal/configuration/proxy/run.rb: MINIMUM_VERSION
 * v0.9.2, image "<registry>/<repository>:<version>", repository basecamp/kamal-proxy). The set names the
 * version, so a newer Kamal cannot move the host to an image nobody pinned (test/kamal.spec.ts checks
 * it against the Kamal under test). The digest is that tag's multi-platform index (linux/amd64,
 * linux/arm64) as public pins of it record it (code search: a Nix `dockerTools.pullImage` with
 * finalImageTag v0.9.2, a Rust constant that re-reads it with the OCI index Accept header, a
 * deployment note quoting "upstream index"); Docker Hub is out of this machine's reach.
 */
export const KAMAL_PROXY = {
    repository: "basecamp/kamal-proxy",
    version: "v0.9.2",
    digest: "sha256:826a6f66c6ba26ac26197ac8755804403c9bb617b90cfac25c7972154c5328ab",
} as const;
/** The image Kamal runs: the tag, which the host gave to the image it pulled by digest. */
export const KAMAL_PROXY_IMAGE = `${KAMAL_PROXY.repository}:${KAMAL_PROXY.version}`;
/** What the host pulls (cloud-init/files/bootstrap.sh) before tagging it KAMAL_PROXY_IMAGE. */
export const KAMAL_PROXY_PINNED = `${KAMAL_PROXY.repository}@${KAMAL_PROXY.digest}`;

/** Secret env names of the app and of Kamal itself (values: stack secrets, never in a file). */
export const KAMAL_SECRET_ENV = {
    registryPassword: "KAMAL_REGISTRY_PASSWORD",
    railsMasterKey: "RAILS_MASTER_KEY",
} as const;

/** Where the deploy step finds the stack's host. */
export interface DeployTarget {
    /** The host's name: its server name and tailnet hostname, as Kamal and SSH name it. */
    readonly host: string;
    readonly sshPort: number;
}

/** Everything the Kamal set of one stack depends on. */
export interface KamalInput {
    readonly app: string;
    /** Stack name: Kamal's destination. */
    readonly stack: string;
    readonly railsEnv: string;
    /** The app's hostnames, the first being the primary: kamal-proxy routes exactly these. */
    readonly hostnames: readonly string[];
    readonly tlsMode: TlsMode;
    readonly registry: { readonly server: string; readonly username: string; readonly image: string };
    readonly solidQueue: SolidQueueMode;
    /** Pre-deploy database copies kept on the volume. */
    readonly backupsKept: number;
    /** Seconds a new container has to become healthy (Kamal deploy_timeout). */
    readonly deployTimeout: number;
    /** Kamal's registry build cache. */
    readonly buildCache: boolean;
    /** The digest the pulled image must have (appImageDigest); the pre-deploy hook checks it on the host. */
    readonly imageDigest?: string;
    readonly target: DeployTarget;
    /** Active Storage env (clear values and secret names). */
    readonly activeStorage: ActiveStorageSettings;
    /** The rendered litestream.yml (renderers/litestream.ts). */
    readonly litestream: string;
    /** File names of the databases Litestream replicates: the ones a host restores when its volume lacks them. */
    readonly replicatedDatabases: readonly string[];
}

/** The renderer's input from the stack settings and what only exists at run time. */
export function kamalInput(
    settings: Pick<Settings, "app" | "stack" | "railsEnv" | "hostnames" | "cloudflare" | "registry" | "deploy" | "storage">,
    runtime: { readonly target: DeployTarget; readonly activeStorage: ActiveStorageSettings; readonly litestream: string },
): KamalInput {
    return {
        app: settings.app,
        stack: settings.stack,
        railsEnv: settings.railsEnv,
        hostnames: settings.hostnames,
        tlsMode: settings.cloudflare.tlsMode,
        registry: settings.registry,
        solidQueue: settings.deploy.solidQueue,
        backupsKept: settings.deploy.backupsKept,
        deployTimeout: settings.deploy.deployTimeout,
        replicatedDatabases: DATABASE_NAMES.filter((db) => settings.storage.litestream[db]).map((db) => databaseFiles(settings.railsEnv)[db]),
        buildCache: settings.deploy.buildCache,
        ...(settings.deploy.appImageDigest ? { imageDigest: settings.deploy.appImageDigest } : {}),
        ...runtime,
    };
}

/** An accessory whose running container must be rebooted when this fingerprint changes. */
export interface AccessoryFingerprint {
    readonly name: string;
    /** sha256 of the accessory's rendered settings and files; the deploy step adds its secret values. */
    readonly digest: string;
    readonly secretNames: readonly string[];
}

export interface KamalSet {
    /** File contents by path relative to the set's directory. */
    readonly files: Readonly<Record<string, string>>;
    /** Every secret name the set reads; each has a line in the secrets file. */
    readonly secretNames: readonly string[];
    readonly accessories: readonly AccessoryFingerprint[];
}

/** File names inside the set's directory. */
export const KAMAL_FILES = {
    base: "deploy.yml",
    destination: (stack: string): string => `deploy.${stack}.yml`,
    /** Kamal reads `<secrets_path>.<destination>` (and `<secrets_path>-common`, which the set has not). */
    secrets: (stack: string): string => `secrets.${stack}`,
    litestream: "litestream.yml",
    sshConfig: "ssh_config",
    preDeployHook: "hooks/pre-deploy",
    backupSettings: "hooks/pre-deploy.env",
    backupScript: "hooks/db-backup.sh",
    restoreScript: "restore/restore-databases.sh",
    restoreSettings: "restore/restore-databases.env",
    restoreInContainer: "restore/restore-in-container.sh",
} as const;

/**
 * Files the deploy step writes beside the set at run time, from what Tailscale says about the host
 * (deploy/host-identity.ts): its address and SSH host keys. Not part of the rendered set.
 */
export const RUNTIME_FILES = {
    /** OpenSSH config: includes ssh_config, adds the verified address and known_hosts. Kamal and `ssh -F` read it. */
    sshIdentity: "ssh_identity",
    knownHosts: "known_hosts",
} as const;

/** The accessory running Litestream beside the app. */
export const LITESTREAM_ACCESSORY = "litestream";

/** A path inside the set's directory as deploy.yml names it (resolved by Kamal's ERB pass). */
const inKamalDir = (relativePath: string): string => `<%= ENV.fetch('${KAMAL_DIR_ENV}') %>/${relativePath}`;
/** The only ERB the set may hold: inKamalDir's. */
const OWN_ERB = new RegExp(`^<%= ENV\\.fetch\\('${KAMAL_DIR_ENV}'\\) %>/[A-Za-z0-9._/-]+(:[A-Za-z0-9._/-]+)?$`);

const volumeMapping = `${STORAGE_HOST_PATH}:${STORAGE_CONTAINER_PATH}`;

function document(contents: unknown, comment: string): string {
    // Kamal reads YAML 1.1 (Ruby's Psych): quote what 1.1 would read as something else ("1000:10", "on").
    const doc = new YAML.Document(contents, { version: "1.1" });
    doc.commentBefore = comment;
    // ERB output lands inside double quotes, so a directory path with spaces stays one YAML string
    // (the deploy step refuses paths with '"' or '\\').
    // Kamal runs deploy.yml through ERB as root of the deploy (Kamal::Configuration.create_from):
    // any other `<%` is code from config, refused even though config validation refuses it first.
    YAML.visit(doc, {
        Scalar(_, node) {
            if (typeof node.value !== "string" || !node.value.includes("<%")) return;
            if (!OWN_ERB.test(node.value)) throw new Error(`refusing to render ${JSON.stringify(node.value)} into Kamal's config: Kamal would run it as ERB`);
            node.type = "QUOTE_DOUBLE";
        },
    });
    return doc.toString({ lineWidth: 0 });
}

const sha256 = (...parts: string[]): string => {
    const hash = createHash("sha256");
    for (const part of parts) hash.update(`${Buffer.byteLength(part)}:${part}`);
    return hash.digest("hex");
};

/** The Litestream accessory, split like the rest: its host in the destination file, all else in the base. */
function litestreamAccessory(input: KamalInput): { base: Record<string, unknown>; destination: Record<string, unknown> } {
    return {
        base: {
            image: LITESTREAM_IMAGE,
            cmd: "replicate",
            files: [`${inKamalDir(KAMAL_FILES.litestream)}:/etc/litestream.yml`],
            volumes: [volumeMapping],
            // The app's uid: files Litestream creates beside the databases stay writable by Rails.
            options: { user: `${APP_UID}:${APP_UID}` },
            env: { secret: [LITESTREAM_ENV.accessKeyId, LITESTREAM_ENV.secretAccessKey] },
        },
        destination: { host: input.target.host },
    };
}

/** Kamal 2.12 lib/kamal/configuration.rb `deploy_timeout`: `raw_config.deploy_timeout || 30`. */
const KAMAL_DEFAULT_DEPLOY_TIMEOUT = 30;

/** deploy.yml: what the app's deploys share, whatever the environment. */
function baseConfig(input: KamalInput): Record<string, unknown> {
    const litestream = litestreamAccessory(input);
    return {
        service: input.app,
        image: input.registry.image,
        // A deploy without -d <stack> would miss the servers and RAILS_ENV: refuse it.
        require_destination: true,
        // Kamal's own default (configuration.rb) is left unwritten: a set that did not change keeps its digest.
        ...(input.deployTimeout !== KAMAL_DEFAULT_DEPLOY_TIMEOUT ? { deploy_timeout: input.deployTimeout } : {}),
        registry: { server: input.registry.server, username: input.registry.username, password: [KAMAL_SECRET_ENV.registryPassword] },
        // Registry cache (Kamal 2.12 configuration/builder.rb: type=registry, ref <server>/<image>-build-cache):
        // any deployer, no GitHub-only cache service.
        builder: { arch: "arm64", ...(input.buildCache ? { cache: { type: "registry", options: "mode=max" } } : {}) },
        // The OpenSSH config the deploy step and the hook use too (`ssh -F`), written by the step from
        // the rendered ssh_config and what Tailscale verified. Kamal passes its own user and port
        // (default 22) to net-ssh, which override the file's: so they are here too.
        ssh: { user: DEPLOY_USER, port: input.target.sshPort, config: [inKamalDir(RUNTIME_FILES.sshIdentity)] },
        volumes: [volumeMapping],
        asset_path: ASSET_PATH,
        secrets_path: inKamalDir("secrets"),
        hooks_path: inKamalDir("hooks"),
        proxy: {
            app_port: THRUSTER_PORT,
            healthcheck: { path: HEALTHCHECK_PATH },
            // Requests arrive through cloudflared, which sets X-Forwarded-For/-Proto for Rails.
            forward_headers: true,
            run: {
                bind_ips: [PROXY_BIND_IP],
                // Not the digest: every `kamal deploy` reads the running proxy's version back as the last
                // ':' field of its image (commands/proxy.rb `version`, awk -F:) and compares it with
                // Gem::Version (cli/proxy.rb boot, utils.rb older_version?), which refuses a digest. So the
                // host pulls KAMAL_PROXY_PINNED and tags it, and Docker must never fetch the tag itself.
                version: KAMAL_PROXY.version,
                options: { pull: "never" },
            },
        },
        aliases: {
            console: 'app exec --interactive --reuse "bin/rails console"',
            shell: 'app exec --interactive --reuse "bash"',
            logs: "app logs -f",
            dbc: 'app exec --interactive --reuse "bin/rails dbconsole"',
        },
        accessories: { [LITESTREAM_ACCESSORY]: litestream.base },
    };
}

/** deploy.<stack>.yml: everything that makes this stack this stack. */
function destinationConfig(input: KamalInput): Record<string, unknown> {
    const hosts = [input.target.host];
    return {
        servers: {
            web: { hosts },
            ...(input.solidQueue === "container" ? { job: { hosts, cmd: JOBS_COMMAND } } : {}),
        },
        env: {
            clear: {
                RAILS_ENV: input.railsEnv,
                ...(input.solidQueue === "puma" ? { SOLID_QUEUE_IN_PUMA: "true" } : {}),
                ...input.activeStorage.env,
            },
            secret: [KAMAL_SECRET_ENV.railsMasterKey, ...input.activeStorage.secretEnv],
        },
        proxy: {
            hosts: [...input.hostnames],
            // acme: kamal-proxy holds a Let's Encrypt certificate (HTTP-01 through the tunnel);
            // tunnel: plain HTTP on loopback, TLS ends at Cloudflare. See docs/edge.md.
            ssl: input.tlsMode === "acme",
        },
        accessories: { [LITESTREAM_ACCESSORY]: litestreamAccessory(input).destination },
    };
}

/** Every secret the set reads, in a stable order: the app's, Kamal's, then the accessories'. */
function secretNames(input: KamalInput): string[] {
    return [KAMAL_SECRET_ENV.registryPassword, KAMAL_SECRET_ENV.railsMasterKey, ...input.activeStorage.secretEnv, LITESTREAM_ENV.accessKeyId, LITESTREAM_ENV.secretAccessKey];
}

/** The secrets file: one `NAME=$NAME` line per secret, read from the deploy step's environment. */
function renderSecrets(stack: string, names: readonly string[]): string {
    return [
        `# Kamal secrets of stack ${stack}: names only. Each value comes from the environment of the`,
        "# deploy step (a Pulumi secret); none is ever written here.",
        ...names.map((name) => `${name}=$${name}`),
        "",
    ].join("\n");
}

/**
 * How Kamal (net-ssh reads OpenSSH config) and the deploy step reach the host: as the deploy user,
 * through Tailscale SSH (tailnet identity, so no key). The connection goes through the deployer's
 * own Tailscale client (`tailscale nc`), so the deployer needs neither MagicDNS nor a tun device;
 * the address is the one Tailscale verified, and the host key must be the one Tailscale reports for
 * that device, pinned under the host's name (RUNTIME_FILES: the step writes both before any SSH).
 */
function renderSshConfig(input: KamalInput): string {
    return [
        `# SSH to the host of stack ${input.stack}, for Kamal and the deploy step, through ${RUNTIME_FILES.sshIdentity}`,
        "# (which adds the verified HostName and known_hosts); docs/deploy.md, \"The host's identity\".",
        `Host ${input.target.host}`,
        `  User ${DEPLOY_USER}`,
        `  Port ${input.target.sshPort}`,
        "  ProxyCommand tailscale nc %h %p",
        `  HostKeyAlias ${input.target.host}`,
        "  StrictHostKeyChecking yes",
        "  LogLevel ERROR",
        "",
    ].join("\n");
}

/** What the host-side restore script needs (deploy/restore-databases.sh, sourced there). */
function renderRestoreSettings(input: KamalInput): string {
    return shellEnv({
        IMAGE: LITESTREAM_IMAGE,
        APP_UID: String(APP_UID),
        STORAGE_HOST_PATH,
        STORAGE_CONTAINER_PATH,
        DATABASES: input.replicatedDatabases.join(" "),
    });
}

/** Settings of the pre-deploy hook, sourced by it: where the primary database is and how many copies to keep. */
function renderBackupSettings(input: KamalInput): string {
    return shellEnv({
        BACKUP_HOST: input.target.host,
        STORAGE_HOST_PATH,
        STORAGE_CONTAINER_PATH,
        PRIMARY_DATABASE: databaseFiles(input.railsEnv).primary,
        BACKUPS_KEPT: String(input.backupsKept),
        APP_UID: String(APP_UID),
        IMAGE: `${input.registry.server}/${input.registry.image}`,
        // Empty: nothing pinned (Kamal builds the image, or a stack that pins none).
        IMAGE_DIGEST: input.imageDigest ?? "",
    });
}

/** The whole set for one stack. Same input, same bytes. */
export function renderKamalSet(input: KamalInput): KamalSet {
    const base = baseConfig(input);
    const destination = destinationConfig(input);
    const names = secretNames(input);
    const header = (what: string): string =>
        ` ${what} of stack ${input.stack}, generated by rails-stack from the stack config: edit that, not this file.\n` +
        ` Used as: kamal <command> -c <this directory>/deploy.yml -d ${input.stack} (docs/deploy.md).`;
    const files: Record<string, string> = {
        [KAMAL_FILES.base]: document(base, header("Kamal base configuration")),
        [KAMAL_FILES.destination(input.stack)]: document(destination, header("Kamal destination configuration")),
        [KAMAL_FILES.secrets(input.stack)]: renderSecrets(input.stack, names),
        [KAMAL_FILES.litestream]: input.litestream,
        [KAMAL_FILES.sshConfig]: renderSshConfig(input),
        [KAMAL_FILES.preDeployHook]: projectFile("deploy/pre-deploy.sh"),
        [KAMAL_FILES.backupSettings]: renderBackupSettings(input),
        [KAMAL_FILES.backupScript]: projectFile("deploy/db-backup.sh"),
        [KAMAL_FILES.restoreScript]: projectFile("deploy/restore-databases.sh"),
        [KAMAL_FILES.restoreSettings]: renderRestoreSettings(input),
        [KAMAL_FILES.restoreInContainer]: projectFile("deploy/restore-in-container.sh"),
    };
    const litestream = litestreamAccessory(input);
    return {
        files,
        secretNames: names,
        accessories: [
            {
                name: LITESTREAM_ACCESSORY,
                digest: sha256(JSON.stringify(litestream), input.litestream),
                secretNames: [LITESTREAM_ENV.accessKeyId, LITESTREAM_ENV.secretAccessKey],
            },
        ],
    };
}

/** One digest of everything the set deploys, for the deploy step's triggers. */
export function kamalSetDigest(set: KamalSet): string {
    return sha256(...Object.keys(set.files).sort().flatMap((file) => [file, set.files[file]]));
}
