#!/bin/sh
# Runs inside one container of Litestream's own image (deploy/restore-databases.sh starts it; the
# image is Alpine, so it has this shell and busybox): restores each database named after the
# storage directory from its replica, when it has one. Prints one line per database:
#   restored <file> <replica's last write> | fresh <file>
set -eu

storage="$1"
shift
for file in "$@"; do
    if ! /usr/local/bin/litestream restore -if-db-not-exists -if-replica-exists -config /etc/litestream.yml "$storage/$file" >&2; then
        echo "restore-databases: restoring $file from its replica failed (Litestream's message is above)" >&2
        exit 1
    fi
    if [ -e "$storage/$file" ]; then
        # The restored generation's last write (`generations` needs the database to exist).
        latest="$(/usr/local/bin/litestream generations -config /etc/litestream.yml "$storage/$file" | awk 'NR > 1 { print $5 }' | sort | tail -n 1)" || latest=""
        echo "restored $file ${latest:-unknown}"
    else
        echo "fresh $file"
    fi
done
