#!/bin/bash
# Kamal pre-deploy hook (rails-stack): before Kamal boots a version, take a consistent copy of the
# primary database on the host, since a migration is the moment it is most at risk. Kamal runs it
# on the deployer with KAMAL_VERSION set; the copy is made on the host by the image being deployed
# (its sqlite3, as the app's uid, without network), kept on the volume and pruned by
# db-backup.sh. Settings come from pre-deploy.env beside this file (rendered from the stack).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
. "$here/pre-deploy.env"
: "${BACKUP_HOST:?}" "${STORAGE_HOST_PATH:?}" "${STORAGE_CONTAINER_PATH:?}"
: "${PRIMARY_DATABASE:?}" "${BACKUPS_KEPT:?}" "${APP_UID:?}" "${IMAGE:?}"
: "${KAMAL_VERSION:?Kamal sets KAMAL_VERSION for its hooks}"

# The remote login shell re-parses the command line: quote every word for it.
remote=(docker run --rm --interactive --network none --user "$APP_UID:$APP_UID"
    --volume "$STORAGE_HOST_PATH:$STORAGE_CONTAINER_PATH" --entrypoint /bin/sh "$IMAGE:$KAMAL_VERSION"
    -s -- "$STORAGE_CONTAINER_PATH" "$PRIMARY_DATABASE" "$BACKUPS_KEPT" "$KAMAL_VERSION")
printf -v remote_command '%q ' "${remote[@]}"

# The host as the deploy step verified it (ssh_identity: address, pinned host key), as for Kamal
# itself; through the step's shared connection when it is open.
if ! ssh -F "$here/../ssh_identity" -o BatchMode=yes -o ConnectTimeout=20 -o ControlMaster=auto -o "ControlPath=$here/../cm" -o ControlPersist=120 \
    "$BACKUP_HOST" "$remote_command" <"$here/db-backup.sh"; then
    echo "pre-deploy: copying $PRIMARY_DATABASE on $BACKUP_HOST failed; the deploy stops before anything changed" >&2
    exit 1
fi
