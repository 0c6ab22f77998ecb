#!/bin/bash
# First-boot set-up of a rails-stack host, run once by cloud-init (runcmd). Settings come from
# /etc/rails-host/host.env (written by cloud-init); the single secret (the Tailscale auth key) sits
# in a 0600 file and never appears on a command line.
#
# Reachability first: Tailscale is installed and joined before anything that can fail for other
# reasons, so an operator can always get in and read the log. Every later step runs whatever
# happened to the others; each result goes to $REPORT (world-readable, so the deploy step can show
# it), and the script exits non-zero when any step failed, which `cloud-init status` reports as an
# error that the deploy step waits for and stops on.
#
# RAILS_HOST_ROOT prefixes every path this script writes (tests run it against a stand-in root).
set -uo pipefail

readonly ROOT="${RAILS_HOST_ROOT:-}"
# shellcheck source=/dev/null
. "$ROOT/etc/rails-host/host.env"
: "${HOST_NAME:?}" "${TAILSCALE_TAGS:?}" "${TAILSCALE_DIRECT_UDP:?}" "${STORAGE_PATH:?}" "${APP_UID:?}" "${DEPLOY_USER:?}"
: "${TUNNEL_TOKEN_FILE:?}" "${BOOTSTRAP_REPORT:?}" "${KAMAL_PROXY_IMAGE:?}" "${KAMAL_PROXY_PINNED:?}"

readonly TAILSCALE_KEY_FILE="$ROOT/etc/rails-host/tailscale-auth-key"
readonly KEYRINGS="$ROOT/etc/apt/keyrings"
readonly SOURCES="$ROOT/etc/apt/sources.list.d"
readonly REPORT="$ROOT$BOOTSTRAP_REPORT"
# Hetzner's volumes appear as /dev/disk/by-id/scsi-0HC_Volume_<id>; the host has exactly one.
readonly VOLUME_GLOB="$ROOT/dev/disk/by-id/scsi-0HC_Volume_*"
readonly VOLUME_WAIT_SECONDS="${VOLUME_WAIT_SECONDS:-900}"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'rails-host-bootstrap: %s\n' "$*" >&2; }

# Runs a command up to 5 times, 10, 20, 30, 40 s apart: a mirror or registry may be briefly unreachable.
retry() {
    local attempt
    for attempt in 1 2 3 4 5; do
        if "$@"; then return 0; fi
        [ "$attempt" -lt 5 ] || break
        log "$* failed (attempt $attempt); retrying"
        sleep $((attempt * 10))
    done
    log "$* failed 5 times"
    return 1
}

# apt on first boot competes with apt-daily and unattended-upgrades for the dpkg lock: wait for it
# (DPkg::Lock::Timeout, also set for every apt run in /etc/apt/apt.conf.d), and retry what fails
# for another reason.
apt_get() {
    retry apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "$@"
}

# Installs an apt signing key fetched over HTTPS, keeping only the pinned primary keys it contains:
# a key served by a compromised mirror never gets trusted.
install_keyring() {
    local url="$1" dest="$2"
    shift 2
    local home
    home="$(mktemp -d)"
    curl --proto '=https' --tlsv1.2 -fsSL --retry 5 "$url" -o "$home/download"
    gpg --homedir "$home" --batch --quiet --import "$home/download" 2>/dev/null
    local found=() fpr
    for fpr in "$@"; do
        if gpg --homedir "$home" --batch --list-keys --with-colons "$fpr" >/dev/null 2>&1; then found+=("$fpr"); fi
    done
    if [ "${#found[@]}" -eq 0 ]; then
        log "no pinned key ($*) in $url"
        rm -rf "$home"
        return 1
    fi
    install -d -m 0755 "$KEYRINGS"
    gpg --homedir "$home" --batch --export "${found[@]}" >"$dest"
    chmod 0644 "$dest"
    rm -rf "$home"
}

install_tailscale() {
    apt_get update
    apt_get install -y ca-certificates curl gnupg
    # Tailscale Inc. package signing key.
    install_keyring https://pkgs.tailscale.com/stable/ubuntu/noble.noarmor.gpg "$KEYRINGS/tailscale.gpg" \
        2596A99EAAB33821893C0A79458CA832957F5868
    echo "deb [signed-by=/etc/apt/keyrings/tailscale.gpg] https://pkgs.tailscale.com/stable/ubuntu noble main" \
        >"$SOURCES/tailscale.list"
    apt_get update
    apt_get install -y tailscale
}

join_tailnet() {
    systemctl enable --now tailscaled.service
    # --ssh: port 22 on the tailnet addresses is Tailscale SSH (tailnet identity and policy).
    # --accept-dns=false: nothing here resolves tailnet names (the deployer dials in), and MagicDNS
    # on the host can leave bridged containers, which must reach R2, with a nameserver they cannot
    # use (tailscale/tailscale#12225, #12108). The host keeps its own resolver (docs/hosts.md).
    tailscale up --auth-key="file:$TAILSCALE_KEY_FILE" --hostname="$HOST_NAME" --advertise-tags="$TAILSCALE_TAGS" --ssh --accept-dns=false
    # Single-use key: worthless now, but it has no business staying on disk.
    shred -u "$TAILSCALE_KEY_FILE"
}

# Nothing reaches OpenSSH (no inbound TCP; Tailscale SSH answers port 22 on the tailnet), so it
# goes. Disabling needs no sshd state (`sshd -t` fails on socket-activated 24.04 before ssh.service
# first ran); masking keeps package upgrades from bringing it back.
disable_openssh() {
    systemctl disable --now ssh.socket ssh.service
    systemctl mask ssh.socket ssh.service
}

install_packages() {
    # Cloudflare's package key: the current one (rotated in 2025) and its predecessor.
    install_keyring https://pkg.cloudflare.com/cloudflare-main.gpg "$KEYRINGS/cloudflare.gpg" \
        CC94B39C77AE7342A68B89628A682D308D4E5E73 FBA8C0EE63617C5EED695C43254B391D8CACCBF8
    echo "deb [signed-by=/etc/apt/keyrings/cloudflare.gpg] https://pkg.cloudflare.com/cloudflared any main" \
        >"$SOURCES/cloudflared.list"
    apt_get update
    apt_get upgrade -y
    # qemu-guest-agent: Hetzner's "Reset root password" needs it (break-glass, docs/hosts.md).
    apt_get install -y docker.io ufw unattended-upgrades qemu-guest-agent cloudflared
}

setup_docker() {
    usermod -aG docker "$DEPLOY_USER"
    # Picks up the drop-in that makes Docker wait for the storage mount.
    systemctl daemon-reload
    systemctl enable --now docker.service
}

# kamal-proxy's configuration, Let's Encrypt certificates included, on the storage volume, before
# Kamal first boots the proxy (files/proxy-config.sh).
prepare_proxy_config() {
    "$ROOT/usr/local/sbin/rails-host-proxy-config"
}

# kamal-proxy by digest. Kamal names it by tag only (renderers/kamal.ts, KAMAL_PROXY), so the host
# fetches the pinned image and gives it that tag; Kamal runs it with --pull never.
pin_proxy_image() {
    retry docker pull --quiet "$KAMAL_PROXY_PINNED"
    docker tag "$KAMAL_PROXY_PINNED" "$KAMAL_PROXY_IMAGE"
}

# Same policy as the Hetzner firewall, as defense in depth: nothing inbound but the tailnet and,
# when enabled, Tailscale's direct-connection UDP port.
setup_ufw() {
    ufw --force reset >/dev/null
    ufw default deny incoming
    ufw default allow outgoing
    ufw allow in on tailscale0
    if [ "$TAILSCALE_DIRECT_UDP" = true ]; then
        ufw allow 41641/udp
    fi
    ufw --force enable
}

# The volume is attached after the server exists: wait for it, mount it, and make sure nothing can
# ever write into the bare mount point on the root disk.
mount_storage() {
    local mount_point="$ROOT$STORAGE_PATH" waited=0 devices=()
    install -d -m 0755 "$mount_point"
    if ! mountpoint -q "$mount_point"; then
        # Immutable while unmounted: a write that misses the volume fails instead of landing here.
        chattr +i "$mount_point"
    fi
    while :; do
        # shellcheck disable=SC2206 # the glob is the point
        devices=($VOLUME_GLOB)
        [ -e "${devices[0]}" ] && break
        if [ "$waited" -ge "$VOLUME_WAIT_SECONDS" ]; then
            log "no volume attached after ${waited}s"
            return 1
        fi
        sleep 5
        waited=$((waited + 5))
    done
    if [ "${#devices[@]}" -ne 1 ]; then
        log "expected one attached volume, found ${#devices[*]}: ${devices[*]}"
        return 1
    fi
    local device="${devices[0]#"$ROOT"}"
    if ! grep -q " $STORAGE_PATH " "$ROOT/etc/fstab"; then
        echo "$device $STORAGE_PATH ext4 discard,nofail,x-systemd.device-timeout=10min 0 2" >>"$ROOT/etc/fstab"
    fi
    systemctl daemon-reload
    systemctl start "$(systemd-escape --path --suffix=mount "$STORAGE_PATH")"
    if [ "$(findmnt -n -o FSTYPE "$STORAGE_PATH")" != ext4 ]; then
        log "$STORAGE_PATH is not the ext4 volume"
        return 1
    fi
    # The app container runs as this uid (Rails' Dockerfile user); only the volume root changes.
    chown "$APP_UID:$APP_UID" "$mount_point"
}

# A grown volume grows the block device only: a timer grows the file system to match, online.
enable_storage_growth() {
    systemctl enable --now rails-host-grow-storage.timer
}

# The deploy step writes the tunnel token (as the deploy user, over Tailscale SSH): rotation needs
# no new server, and the token never sits in user-data, which the metadata service would serve.
# A path unit restarts cloudflared whenever the file changes; it runs once the file is not empty.
prepare_tunnel() {
    local dir
    dir="$(dirname "$ROOT$TUNNEL_TOKEN_FILE")"
    install -d -m 0700 "$dir"
    touch "$ROOT$TUNNEL_TOKEN_FILE"
    chmod 0600 "$ROOT$TUNNEL_TOKEN_FILE"
    chown -R "$DEPLOY_USER:$DEPLOY_USER" "$dir"
    systemctl daemon-reload
    systemctl enable cloudflared-tunnel.service
    systemctl enable --now cloudflared-token.path
}

enable_updates() {
    systemctl enable --now unattended-upgrades.service
}

failed=()
# Runs one step in a subshell under `set -e` (not in an `if`, where bash would ignore -e), records
# its result, and carries on. A step whose prerequisites failed is skipped, and reported as such.
# Usage: step <name> [<prerequisite>...]
step() {
    local name="$1" status needed
    shift
    for needed in "$@"; do
        if [[ " ${failed[*]} " == *" $needed "* ]]; then
            echo "skipped $name (needs $needed)" >>"$REPORT"
            log "step $name skipped: it needs $needed, which failed"
            failed+=("$name")
            return
        fi
    done
    log "step $name"
    (
        set -e
        "$name"
    )
    status=$?
    if [ "$status" -eq 0 ]; then
        echo "ok $name" >>"$REPORT"
    else
        echo "failed $name (exit $status)" >>"$REPORT"
        log "step $name failed (exit $status); continuing with the others"
        failed+=("$name")
    fi
}

install -d -m 0755 "$(dirname "$REPORT")"
: >"$REPORT"
chmod 0644 "$REPORT"
step install_tailscale
step join_tailnet install_tailscale
step mount_storage
step disable_openssh
step install_packages
step setup_docker install_packages
step prepare_proxy_config setup_docker mount_storage
step pin_proxy_image setup_docker
step setup_ufw install_packages
step prepare_tunnel install_packages
step enable_storage_growth
step enable_updates install_packages
if [ "${#failed[@]}" -gt 0 ]; then
    log "failed: ${failed[*]} (see $REPORT and /var/log/cloud-init-output.log)"
    exit 1
fi
log "done"
