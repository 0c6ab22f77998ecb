#!/bin/bash
# First-boot set-up of a rails-stack host, run once by cloud-init (runcmd) after its packages are
# installed. Its settings come from /etc/rails-host/host.env (written by cloud-init); secrets sit in
# 0600 files and never appear on a command line.
set -euo pipefail

# shellcheck source=/dev/null
. /etc/rails-host/host.env
: "${HOST_NAME:?}" "${TAILSCALE_TAGS:?}" "${TAILSCALE_DIRECT_UDP:?}" "${STORAGE_DEVICE:?}"

readonly TAILSCALE_KEY_FILE=/etc/rails-host/tailscale-auth-key
readonly KEYRINGS=/etc/apt/keyrings

log() { printf 'rails-host-bootstrap: %s\n' "$*" >&2; }

# Installs an apt signing key fetched over HTTPS, keeping only the pinned primary keys it contains:
# a key served by a compromised mirror never gets trusted.
install_keyring() {
    local url="$1" dest="$2"
    shift 2
    local home
    home="$(mktemp -d)"
    curl --proto '=https' --tlsv1.2 -fsSL --retry 5 "$url" -o "$home/download"
    gpg --homedir "$home" --batch --quiet --import "$home/download" 2>/dev/null
    local found=()
    local fpr
    for fpr in "$@"; do
        if gpg --homedir "$home" --batch --list-keys --with-colons "$fpr" >/dev/null 2>&1; then
            found+=("$fpr")
        fi
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

harden_sshd() {
    sshd -t
    systemctl try-reload-or-restart ssh.service
}

setup_docker() {
    usermod -aG docker deploy
    systemctl enable --now docker.service
}

install_agents() {
    # Tailscale Inc. package signing key.
    install_keyring https://pkgs.tailscale.com/stable/ubuntu/noble.noarmor.gpg "$KEYRINGS/tailscale.gpg" \
        2596A99EAAB33821893C0A79458CA832957F5868
    echo "deb [signed-by=$KEYRINGS/tailscale.gpg] https://pkgs.tailscale.com/stable/ubuntu noble main" \
        >/etc/apt/sources.list.d/tailscale.list
    # Cloudflare's package key: the current one (rotated in 2025) and its predecessor.
    install_keyring https://pkg.cloudflare.com/cloudflare-main.gpg "$KEYRINGS/cloudflare.gpg" \
        CC94B39C77AE7342A68B89628A682D308D4E5E73 FBA8C0EE63617C5EED695C43254B391D8CACCBF8
    echo "deb [signed-by=$KEYRINGS/cloudflare.gpg] https://pkg.cloudflare.com/cloudflared any main" \
        >/etc/apt/sources.list.d/cloudflared.list
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tailscale cloudflared
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

join_tailnet() {
    systemctl enable --now tailscaled.service
    tailscale up --auth-key="file:$TAILSCALE_KEY_FILE" --hostname="$HOST_NAME" \
        --advertise-tags="$TAILSCALE_TAGS" --ssh
    # Single-use key: worthless now, but it has no business staying on disk.
    shred -u "$TAILSCALE_KEY_FILE"
}

start_tunnel() {
    systemctl daemon-reload
    systemctl enable --now cloudflared-tunnel.service
}

# The volume is attached after the server exists: wait for it, mount it, and make sure nothing can
# ever write into the bare mount point on the root disk.
mount_storage() {
    : "${STORAGE_PATH:?}" "${APP_UID:?}"
    local unit
    unit="$(systemd-escape --path --suffix=mount "$STORAGE_PATH")"
    install -d -m 0755 "$STORAGE_PATH"
    if ! mountpoint -q "$STORAGE_PATH"; then
        # Immutable while unmounted: a write that misses the volume fails instead of landing here.
        chattr +i "$STORAGE_PATH"
    fi
    if ! grep -q "^$STORAGE_DEVICE " /etc/fstab; then
        echo "$STORAGE_DEVICE $STORAGE_PATH ext4 discard,nofail,x-systemd.device-timeout=10min 0 2" >>/etc/fstab
    fi
    local waited=0
    until [ -b "$STORAGE_DEVICE" ]; do
        if [ "$waited" -ge 900 ]; then
            log "volume $STORAGE_DEVICE not attached after ${waited}s"
            return 1
        fi
        sleep 5
        waited=$((waited + 5))
    done
    systemctl daemon-reload
    systemctl start "$unit"
    if [ "$(findmnt -n -o FSTYPE "$STORAGE_PATH")" != ext4 ]; then
        log "$STORAGE_PATH is not the ext4 volume"
        return 1
    fi
    # The app container runs as this uid (Rails' Dockerfile user); only the volume root changes.
    chown "$APP_UID:$APP_UID" "$STORAGE_PATH"
    # Docker (hence the app) never starts without the volume (unit written by cloud-init).
    systemctl daemon-reload
}

harden_sshd
setup_docker
install_agents
setup_ufw
join_tailnet
start_tunnel
mount_storage
log "done"
