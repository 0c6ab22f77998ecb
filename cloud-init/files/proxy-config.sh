#!/bin/bash
# Puts kamal-proxy's configuration directory on the storage volume, so the Let's Encrypt
# certificates it keeps there survive a host replacement (docs/hosts.md, "Certificates").
# Run once per host by the bootstrap, after the volume is mounted and Docker runs, and before Kamal
# first boots the proxy.
#
# Kamal 2.12 runs kamal-proxy with `--volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy`
# (lib/kamal/commands/proxy.rb). That named volume is created here first, as a bind of a directory on
# the volume, so Kamal's `docker run` uses it. kamal-proxy runs as its image's own user: Docker
# copies the image's directory, owner and mode included, into an empty volume on first use, so
# nothing here needs that uid (checked on a real dockerd: test/host-docker.spec.ts).
#
# RAILS_HOST_ROOT prefixes every path this script writes (tests run it against a stand-in root).
set -euo pipefail
readonly ROOT="${RAILS_HOST_ROOT:-}"
# shellcheck source=/dev/null
. "$ROOT/etc/rails-host/host.env"
: "${PROXY_CONFIG_DIR:?}" "${PROXY_CONFIG_VOLUME:?}"

install -d -m 0755 "$ROOT$PROXY_CONFIG_DIR"
# The routes of the host that wrote it: its containers are not here. kamal-proxy would restore them
# at start (internal/server/router.go, RestoreLastSavedState); the deploy registers this host's own.
rm -f "$ROOT$PROXY_CONFIG_DIR/kamal-proxy.state"
# Docker resolves the device path in its own mount namespace: the host's, never prefixed.
docker volume create --driver local --opt type=none --opt o=bind --opt "device=$PROXY_CONFIG_DIR" "$PROXY_CONFIG_VOLUME" >/dev/null
