// The cloud-init user-data of the stack's host: a pure function of plain data, built as an object
// and serialized with `yaml`. Shell lives in files/ (embedded, shellcheck-able on its own); systemd
// units are built here from the same constants the deploy step uses. See docs/hosts.md.
import * as path from "path";
import * as YAML from "yaml";
import { APP_UID, BOOTSTRAP_REPORT, DEPLOY_USER, STORAGE_HOST_PATH, TUNNEL_TOKEN_FILE } from "../lib/paths";
import { PROJECT_ROOT, projectFile } from "../lib/project";
import { shellEnv } from "../lib/shell-env";

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
}

/** Hetzner's user-data limit. */
export const USER_DATA_MAX_BYTES = 32 * 1024;
const BOOTSTRAP_PATH = "/usr/local/sbin/rails-host-bootstrap";
const GROW_STORAGE_PATH = "/usr/local/sbin/rails-host-grow-storage";
const TAILSCALE_KEY_PATH = "/etc/rails-host/tailscale-auth-key";
const UNITS = "/etc/systemd/system";

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
    };
    const files: WriteFile[] = [
        { path: "/etc/rails-host/host.env", content: shellEnv(env), permissions: "0644" },
        { path: TAILSCALE_KEY_PATH, content: `${facts.tailscaleAuthKey}\n`, permissions: "0600" },
        { path: BOOTSTRAP_PATH, content: staticFile("bootstrap.sh"), permissions: "0700" },
        { path: GROW_STORAGE_PATH, content: staticFile("grow-storage.sh"), permissions: "0700" },
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
