#!/bin/bash
# Kamal pre-deploy hook (rails-stack). Kamal runs it on the deployer with KAMAL_VERSION set, after
# the hosts pulled the image and before anything boots (Kamal 2.12 lib/kamal/cli/main.rb, deploy).
# First, when the stack pins appImageDigest, the image the host pulled must be that digest: a tag
# moved since review stops the deploy here. Then it takes a consistent copy of the primary
# database on the host, since a migration is the moment it is most at risk: made by the image being
# deployed (its sqlite3, as the app's uid, without network), kept on the volume and pruned by
# db-backup.sh. Settings come from pre-deploy.env beside this file (rendered from the stack).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
. "$here/pre-deploy.env"
: "${BACKUP_HOST:?}" "${STORAGE_HOST_PATH:?}" "${STORAGE_CONTAINER_PATH:?}"
: "${PRIMARY_DATABASE:?}" "${BACKUPS_KEPT:?}" "${APP_UID:?}" "${IMAGE:?}"
: "${KAMAL_VERSION:?Kamal sets KAMAL_VERSION for its hooks}"

# The host as the deploy step verified it (ssh_identity: address, pinned host key), as for Kamal
# itself; through the step's shared connection when it is open.
ssh_options=(-F "$here/../ssh_identity" -o BatchMode=yes -o ConnectTimeout=20 -o ControlMaster=auto -o "ControlPath=$here/../cm" -o ControlPersist=120)

if [ -n "${IMAGE_DIGEST:-}" ]; then
    # Docker records, per image, the digest each pull resolved its tag to (RepoDigests): the same
    # manifest or index digest CI recorded when it pushed.
    printf -v inspect_command '%q ' docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$IMAGE:$KAMAL_VERSION"
    # shellcheck disable=SC2029 # quoted above for the remote shell
    pulled="$(ssh "${ssh_options[@]}" "$BACKUP_HOST" "$inspect_command")" || {
        echo "pre-deploy: cannot read the digest of $IMAGE:$KAMAL_VERSION on $BACKUP_HOST; the deploy stops before anything boots" >&2
        exit 1
    }
    case "$pulled" in
    *"@$IMAGE_DIGEST"*) ;;
    *)
        shown="${pulled//$'\n'/ }"
        echo "pre-deploy: $IMAGE:$KAMAL_VERSION on $BACKUP_HOST was pulled as ${shown:-an image without a registry digest}, not appImageDigest $IMAGE_DIGEST: the tag moved since review; the deploy stops before anything boots" >&2
        exit 1
        ;;
    esac
    echo "pre-deploy: $IMAGE:$KAMAL_VERSION on $BACKUP_HOST is $IMAGE_DIGEST, as reviewed" >&2
fi

# The remote login shell re-parses the command line: quote every word for it.
remote=(docker run --rm --interactive --network none --user "$APP_UID:$APP_UID"
    --volume "$STORAGE_HOST_PATH:$STORAGE_CONTAINER_PATH" --entrypoint /bin/sh "$IMAGE:$KAMAL_VERSION"
    -s -- "$STORAGE_CONTAINER_PATH" "$PRIMARY_DATABASE" "$BACKUPS_KEPT" "$KAMAL_VERSION")
printf -v remote_command '%q ' "${remote[@]}"

# shellcheck disable=SC2029 # quoted above for the remote shell
if ! ssh "${ssh_options[@]}" "$BACKUP_HOST" "$remote_command" <"$here/db-backup.sh"; then
    echo "pre-deploy: copying $PRIMARY_DATABASE on $BACKUP_HOST failed; the deploy stops before anything changed" >&2
    exit 1
fi
