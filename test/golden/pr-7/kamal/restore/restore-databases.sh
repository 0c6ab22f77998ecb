#!/bin/bash
# Runs on the host, before Kamal boots Litestream and the app (deploy/kamal-deploy.sh sends it with
# the set's litestream.yml, restore-databases.env and restore-in-container.sh): every replicated
# database the volume lacks is restored from its replica, so a host that comes up with an empty
# volume never starts an empty database that Litestream would then replicate as the new truth. A
# database on the volume is never touched; one without a replica (a stack's first deploy) starts fresh.
# Litestream's credentials arrive on stdin as docker env-file lines (never on a command line) and
# live in a 0600 file only while it runs. Prints one line per database:
#   kept <file> | restored <file> <replica's last write> | fresh <file>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$(cd "$here/.." && pwd)/litestream.yml"
# shellcheck source=/dev/null
. "$here/restore-databases.env"
: "${IMAGE:?}" "${APP_UID:?}" "${STORAGE_HOST_PATH:?}" "${STORAGE_CONTAINER_PATH:?}" "${DATABASES?}"

umask 077
env_file="$(mktemp)"
trap 'rm -f "$env_file"' EXIT
cat >"$env_file"

missing=()
for file in $DATABASES; do
    db="$STORAGE_HOST_PATH/$file"
    if [ -e "$db" ]; then
        echo "kept $file"
        continue
    fi
    # A -wal or -shm left without its database would be applied to the restored one by SQLite.
    for leftover in "$db-wal" "$db-shm"; do
        if [ -e "$leftover" ]; then mv "$leftover" "$leftover.orphaned-$(date -u +%Y%m%dT%H%M%SZ)"; fi
    done
    missing+=("$file")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

# Litestream 0.3.13 as the accessory runs it (the app's uid, the volume, the rendered config), in one
# container for every missing database rather than one per database and command.
docker run --rm --user "$APP_UID:$APP_UID" --env-file "$env_file" \
    --volume "$STORAGE_HOST_PATH:$STORAGE_CONTAINER_PATH" --volume "$config:/etc/litestream.yml:ro" \
    --volume "$here/restore-in-container.sh:/usr/local/bin/restore-in-container.sh:ro" \
    --entrypoint /bin/sh "$IMAGE" /usr/local/bin/restore-in-container.sh "$STORAGE_CONTAINER_PATH" "${missing[@]}"
