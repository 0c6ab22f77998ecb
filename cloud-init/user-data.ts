// The cloud-init user-data of the stack's host: a pure function of plain data, built as an object
// and serialized with `yaml`. Shell lives in files/ (embedded, shellcheck-able on its own); systemd
// units are built here from the same constants the deploy step uses. See docs/hosts.md.
import * as path from "path";
import * as YAML from "yaml";
import { APP_UID, BOOTSTRAP_REPORT, DEPLOY_USER, STORAGE_HOST_PATH, TUNNEL_TOKEN_FILE } from "../lib/paths";
import { PROJECT_ROOT, projectFile } from "../lib/project";
import { shellEnv } from "../lib/shell-env";
import { KAMAL_PROXY_IMAGE, KAMAL_PROXY_PINNED } from "../renderers/kamal";

/**
 * Everything the host's user-data depends on. Nothing here changes after the server exists except
 * through a deliberate change of config or of this renderer: volatile facts (the tunnel token, the
 * volume's id) stay out, so the boot fingerprint below covers everything the host boots with.
 */
export interface HostBootFacts {
    /** Server name, also its hostname and Tailscale hostname. */
    readonly hostname: string;
    /** Tags the host advertises on the tailnet (tag:...). */
    readonly tailscaleTags: readonly string[];
    /** Whether ufw lets Tailscale's direct-connection UDP port in. */
    readonly tailscaleDirectUdp: boolean;
    /** Single-use Tailscale auth key (secret). */
    readonly tailscaleAuthKey: string;
    /** "HH:MM" UTC: when unattended-upgrades may reboot for an update that needs it; null: never. */
    readonly rebootWindow: string | null;
}

/** Hetzner's user-data limit. */
export const USER_DATA_MAX_BYTES = 32 * 1024;
const BOOTSTRAP_PATH = "/usr/local/sbin/rails-host-bootstrap";
const GROW_STORAGE_PATH = "/usr/local/sbin/rails-host-grow-storage";
const PROXY_CONFIG_PATH = "/usr/local/sbin/rails-host-proxy-config";
const TAILSCALE_KEY_PATH = "/etc/rails-host/tailscale-auth-key";
const UNITS = "/etc/systemd/system";

/**
 * The named volume Kamal 2.12 mounts at kamal-proxy's configuration directory
 * (lib/kamal/commands/proxy.rb: `--volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy`).
 */
export const PROXY_CONFIG_VOLUME = "kamal-proxy-config";
/** Where that volume lives: on the storage volume, so kamal-proxy's certificates outlive the host. */
export const PROXY_CONFIG_HOST_PATH = `${STORAGE_HOST_PATH}/kamal-proxy`;

/**
 * The vendor apt repositories the bootstrap adds, as unattended-upgrades matches them: each field
 * against the repository's Release file (Origin, Label, Codename) and host (site), all required
 * (unattended-upgrade `match_whitelist_string`). Tailscale's Release file: `Origin: Tailscale`,
 * `Label: Tailscale`, `Codename: noble` (pkgs.tailscale.com/stable/ubuntu/dists/noble/Release, as
 * quoted by public notes). cloudflared's: Origin and Label are the binary's name and Codename the
 * dist, with no Suite line (cloudflare/cloudflared release_pkgs.py `create_distribution_conf`, dist `any`).
 */
export const VENDOR_APT_ORIGINS = [
    { origin: "Tailscale", label: "Tailscale", codename: "noble", site: "pkgs.tailscale.com" },
    { origin: "cloudflared", label: "cloudflared", codename: "any", site: "pkg.cloudflare.com" },
] as const;

/** One apt.conf(5) statement: a value, or a list of values (a scope). */
type AptConfEntry = readonly [key: string, value: string | readonly string[]];

/** apt.conf(5) text; values are double-quoted, so a '"' in one could not be expressed. */
function aptConf(comment: string, entries: readonly AptConfEntry[]): string {
    const quote = (value: string): string => {
        if (/["\n]/.test(value)) throw new Error(`apt.conf value ${JSON.stringify(value)} contains '"' or a newline`);
        return `"${value}"`;
    };
    const lines = entries.map(([key, value]) =>
        typeof value === "string" ? `${key} ${quote(value)};` : [`${key} {`, ...value.map((v) => `        ${quote(v)};`), "};"].join("\n"),
    );
    return [`// ${comment}`, ...lines, ""].join("\n");
}

/**
 * unattended-upgrades' additions to Ubuntu's own 50unattended-upgrades (apt.conf lists add up across
 * files; a later file's scalar wins): the vendors' repositories, so Tailscale (the way in) and
 * cloudflared (the way out) update like the rest; and the reboot an update may need, at the window.
 * unattended-upgrades reboots only when an upgrade left /var/run/reboot-required, by
 * `shutdown -r <Automatic-Reboot-Time>` (unattended-upgrade `reboot_if_requested_and_needed`).
 */
export function unattendedUpgradesConf(rebootWindow: string | null): string {
    const reboot: AptConfEntry[] =
        rebootWindow === null
            ? [["Unattended-Upgrade::Automatic-Reboot", "false"]]
            : [
                  ["Unattended-Upgrade::Automatic-Reboot", "true"],
                  ["Unattended-Upgrade::Automatic-Reboot-Time", rebootWindow],
                  // A Tailscale SSH session left open must not hold back a kernel fix.
                  ["Unattended-Upgrade::Automatic-Reboot-WithUsers", "true"],
              ];
    return aptConf("rails-stack: vendor repositories and the reboot window (docs/hosts.md, \"How a host stays patched\").", [
        ["Unattended-Upgrade::Origins-Pattern", VENDOR_APT_ORIGINS.map((o) => `origin=${o.origin},label=${o.label},codename=${o.codename},site=${o.site}`)],
        ...reboot,
    ]);
}

/** Static files embedded into user-data (also what the shellcheck test checks). */
export const STATIC_FILES_DIR = path.join(PROJECT_ROOT, "cloud-init", "files");
const staticFile = (name: string): string => projectFile(path.join("cloud-init", "files", name));

type UnitSections = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** A systemd unit file from its sections. */
export function renderUnit(comment: string, sections: UnitSections): string {
    const body = Object.entries(sections).map(([section, keys]) => [`[${section}]`, ...Object.entries(keys).map(([k, v]) => `${k}=${v}`)].join("\n"));
    return `# ${comment}\n${body.join("\n\n")}\n`;
}

/** The systemd units the bootstrap script enables, by file name. */
export function hostUnits(): Record<string, string> {
    return {
        "cloudflared-tunnel.service": renderUnit("Cloudflare Tunnel connector of the remotely managed tunnel; the deploy step writes its token.", {
            Unit: {
                Description: "Cloudflare Tunnel connector",
                After: "network-online.target",
                Wants: "network-online.target",
                ConditionFileNotEmpty: TUNNEL_TOKEN_FILE,
            },
            Service: {
                Type: "notify",
                // A credential file, never the command line (ps) or the environment.
                LoadCredential: `tunnel-token:${TUNNEL_TOKEN_FILE}`,
                ExecStart: "/usr/bin/cloudflared --no-autoupdate tunnel run --token-file %d/tunnel-token",
                DynamicUser: "yes",
                ProtectSystem: "strict",
                ProtectHome: "yes",
                PrivateTmp: "yes",
                Restart: "on-failure",
                RestartSec: "5s",
            },
            Install: { WantedBy: "multi-user.target" },
        }),
        "cloudflared-token.path": renderUnit("Restarts the tunnel connector when the deploy step writes a new token (rotation).", {
            Unit: { Description: "Watch the tunnel token" },
            Path: { PathChanged: TUNNEL_TOKEN_FILE, Unit: "cloudflared-token-changed.service" },
            Install: { WantedBy: "multi-user.target" },
        }),
        "cloudflared-token-changed.service": renderUnit("Run by cloudflared-token.path.", {
            Unit: { Description: "Restart the tunnel connector with the new token" },
            Service: { Type: "oneshot", ExecStart: "/usr/bin/systemctl restart cloudflared-tunnel.service" },
        }),
        "rails-host-grow-storage.service": renderUnit("Grows the volume's file system to its device after a resize (online).", {
            Unit: { Description: "Grow the storage file system", RequiresMountsFor: STORAGE_HOST_PATH },
            Service: { Type: "oneshot", ExecStart: GROW_STORAGE_PATH },
        }),
        "rails-host-grow-storage.timer": renderUnit("A resized volume's file system grows within ten minutes.", {
            Unit: { Description: "Grow the storage file system after a resize" },
            Timer: { OnBootSec: "2min", OnUnitActiveSec: "10min" },
            Install: { WantedBy: "timers.target" },
        }),
    };
}

interface WriteFile {
    path: string;
    content: string;
    permissions: string;
}

export function renderUserData(facts: HostBootFacts): string {
    const env: Record<string, string> = {
        HOST_NAME: facts.hostname,
        TAILSCALE_TAGS: facts.tailscaleTags.join(","),
        TAILSCALE_DIRECT_UDP: String(facts.tailscaleDirectUdp),
        STORAGE_PATH: STORAGE_HOST_PATH,
        APP_UID: String(APP_UID),
        DEPLOY_USER,
        TUNNEL_TOKEN_FILE,
        BOOTSTRAP_REPORT,
        PROXY_CONFIG_VOLUME,
        PROXY_CONFIG_DIR: PROXY_CONFIG_HOST_PATH,
        KAMAL_PROXY_IMAGE,
        KAMAL_PROXY_PINNED,
    };
    const files: WriteFile[] = [
        { path: "/etc/rails-host/host.env", content: shellEnv(env), permissions: "0644" },
        { path: TAILSCALE_KEY_PATH, content: `${facts.tailscaleAuthKey}\n`, permissions: "0600" },
        { path: BOOTSTRAP_PATH, content: staticFile("bootstrap.sh"), permissions: "0700" },
        { path: GROW_STORAGE_PATH, content: staticFile("grow-storage.sh"), permissions: "0700" },
        { path: PROXY_CONFIG_PATH, content: staticFile("proxy-config.sh"), permissions: "0700" },
        {
            // Every apt run on the host (the bootstrap's, apt-daily's, unattended-upgrades') waits
            // for the dpkg lock instead of failing while another holds it.
            path: "/etc/apt/apt.conf.d/80rails-host-lock-timeout",
            content: 'DPkg::Lock::Timeout "600";\n',
            permissions: "0644",
        },
        {
            // Written before docker.io is installed, so the daemon starts with log rotation.
            path: "/etc/docker/daemon.json",
            content: `${JSON.stringify({ "log-driver": "json-file", "log-opts": { "max-size": "10m", "max-file": "5" } }, null, 2)}\n`,
            permissions: "0644",
        },
        {
            path: "/etc/apt/apt.conf.d/20auto-upgrades",
            content: 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n',
            permissions: "0644",
        },
        { path: "/etc/apt/apt.conf.d/52rails-host-unattended-upgrades", content: unattendedUpgradesConf(facts.rebootWindow), permissions: "0644" },
        ...Object.entries(hostUnits()).map(([name, content]) => ({ path: `${UNITS}/${name}`, content, permissions: "0644" })),
        {
            // In place before the bootstrap installs docker.io, which it does after mounting the
            // volume: Docker, so every container, starts only on top of the mounted volume.
            path: `${UNITS}/docker.service.d/10-requires-storage.conf`,
            content: renderUnit("Docker, and so every container, runs only on top of the storage volume.", { Unit: { RequiresMountsFor: STORAGE_HOST_PATH } }),
            permissions: "0644",
        },
    ];
    const config = {
        hostname: facts.hostname,
        preserve_hostname: false,
        // The reboot window is UTC (shutdown -r reads the host's local time); Hetzner's image is UTC already.
        timezone: "Etc/UTC",
        // Before anything else, on every boot: keep containers and non-root users away from the
        // metadata service, which serves this user-data (files/metadata-guard.sh).
        bootcmd: [staticFile("metadata-guard.sh")],
        disable_root: true,
        ssh_pwauth: false,
        users: [
            {
                // Reached only through Tailscale SSH (tailnet identity), so no authorized keys; the
                // docker group appears with docker.io, and the bootstrap script adds deploy to it.
                name: DEPLOY_USER,
                shell: "/bin/bash",
                lock_passwd: true,
            },
        ],
        write_files: files,
        // Packages are installed by the bootstrap, which waits for the dpkg lock and retries:
        // cloud-init's own package module gives up on the lock after 30 seconds.
        runcmd: [[BOOTSTRAP_PATH]],
    };
    const text = `#cloud-config\n${YAML.stringify(config, { lineWidth: 0 })}`;
    const bytes = Buffer.byteLength(text);
    if (bytes > USER_DATA_MAX_BYTES) throw new Error(`${facts.hostname}: user-data is ${bytes} bytes, over Hetzner's ${USER_DATA_MAX_BYTES}`);
    return text;
}
