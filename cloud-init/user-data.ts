// The cloud-init user-data of one host: a pure function of plain data, built as an object and
// serialized with `yaml`. Shell lives in files/bootstrap.sh (embedded, shellcheck-able on its own).
import * as path from "path";
import * as YAML from "yaml";
import { APP_UID, DEPLOY_USER } from "../lib/paths";
import { PROJECT_ROOT, projectFile } from "../lib/project";
import { shellEnv } from "../lib/shell-env";

/** Everything one host's user-data depends on. */
export interface HostBootFacts {
    /** Server name, also its hostname and Tailscale hostname. */
    readonly hostname: string;
    /** OpenSSH public keys authorized for the deploy user. */
    readonly sshPublicKeys: readonly string[];
    /** Tags the host advertises on the tailnet (tag:...). */
    readonly tailscaleTags: readonly string[];
    /** Whether ufw lets Tailscale's direct-connection UDP port in. */
    readonly tailscaleDirectUdp: boolean;
    /** Single-use Tailscale auth key (secret). */
    readonly tailscaleAuthKey: string;
    /** Cloudflare tunnel token (secret). */
    readonly tunnelToken: string;
    /** The storage volume. */
    readonly volume: { readonly id: number; readonly mountPath: string };
}

/** Hetzner's user-data limit. */
export const USER_DATA_MAX_BYTES = 32 * 1024;
const BOOTSTRAP_PATH = "/usr/local/sbin/rails-host-bootstrap";
const TUNNEL_TOKEN_PATH = "/etc/cloudflared/tunnel-token";
const TAILSCALE_KEY_PATH = "/etc/rails-host/tailscale-auth-key";

/** Static files embedded into user-data (also what the shellcheck test checks). */
export const STATIC_FILES_DIR = path.join(PROJECT_ROOT, "cloud-init", "files");
const staticFile = (name: string): string => projectFile(path.join("cloud-init", "files", name));

/** Hetzner's stable device path of a volume. */
export const volumeDevice = (volumeId: number): string => `/dev/disk/by-id/scsi-0HC_Volume_${volumeId}`;

interface WriteFile {
    path: string;
    content: string;
    permissions: string;
    owner?: string;
    defer?: boolean;
}

export function renderUserData(facts: HostBootFacts): string {
    const env: Record<string, string> = {
        HOST_NAME: facts.hostname,
        TAILSCALE_TAGS: facts.tailscaleTags.join(","),
        TAILSCALE_DIRECT_UDP: String(facts.tailscaleDirectUdp),
        STORAGE_DEVICE: volumeDevice(facts.volume.id),
        STORAGE_PATH: facts.volume.mountPath,
        APP_UID: String(APP_UID),
    };
    const files: WriteFile[] = [
        { path: "/etc/rails-host/host.env", content: shellEnv(env), permissions: "0644" },
        { path: TAILSCALE_KEY_PATH, content: `${facts.tailscaleAuthKey}\n`, permissions: "0600" },
        { path: BOOTSTRAP_PATH, content: staticFile("bootstrap.sh"), permissions: "0700" },
        {
            path: "/etc/ssh/sshd_config.d/10-rails-host.conf",
            // sshd takes the first value it reads: this file sorts before cloud-init's 50-cloud-init.conf.
            content: ["PermitRootLogin no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", `AllowUsers ${DEPLOY_USER}`, ""].join("\n"),
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
        { path: TUNNEL_TOKEN_PATH, content: `${facts.tunnelToken}\n`, permissions: "0600" },
        { path: "/etc/systemd/system/cloudflared-tunnel.service", content: staticFile("cloudflared-tunnel.service"), permissions: "0644" },
        {
            // Deferred until after docker.io's install started the daemon once; from the next boot on,
            // Docker (so every container) starts only on top of the mounted volume.
            path: "/etc/systemd/system/docker.service.d/10-requires-storage.conf",
            content: `[Unit]\nRequiresMountsFor=${facts.volume.mountPath}\n`,
            permissions: "0644",
            defer: true,
        },
    ];
    const config = {
        hostname: facts.hostname,
        preserve_hostname: false,
        package_update: true,
        package_upgrade: true,
        // Docker from Ubuntu's own archive (signed by Ubuntu); Tailscale and cloudflared come from
        // their vendors' repositories, added by the bootstrap script with pinned key fingerprints.
        packages: ["ca-certificates", "curl", "gnupg", "docker.io", "ufw", "unattended-upgrades"],
        disable_root: true,
        ssh_pwauth: false,
        users: [
            {
                name: DEPLOY_USER,
                // The docker group appears with docker.io; the bootstrap script adds deploy to it.
                shell: "/bin/bash",
                lock_passwd: true,
                ssh_authorized_keys: [...facts.sshPublicKeys],
            },
        ],
        write_files: files,
        runcmd: [[BOOTSTRAP_PATH]],
    };
    const text = `#cloud-config\n${YAML.stringify(config, { lineWidth: 0 })}`;
    const bytes = Buffer.byteLength(text);
    if (bytes > USER_DATA_MAX_BYTES) throw new Error(`${facts.hostname}: user-data is ${bytes} bytes, over Hetzner's ${USER_DATA_MAX_BYTES}`);
    return text;
}
