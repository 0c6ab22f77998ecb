#!/bin/sh
# Runs inside the app image on the host (fed on stdin by the pre-deploy hook), as the app's uid with
# the volume mounted: copies the primary database with SQLite's online backup, checks the copy, and
# keeps the newest N copies. POSIX sh: the image's /bin/sh may not be bash.
# Arguments: <storage dir> <database file name> <copies to keep> <version being deployed>
set -eu

storage="$1"
database="$2"
keep="$3"
version="$4"
source="$storage/$database"
dir="$storage/backups/pre-deploy"

if [ ! -f "$source" ]; then
    echo "pre-deploy: no $database yet (first deploy); nothing to copy"
    exit 0
fi
mkdir -p "$dir"
# UTC stamp first, so names sort by age.
copy="$dir/${database%.sqlite3}-$(date -u +%Y%m%dT%H%M%SZ)-$version.sqlite3"
# .backup is consistent while the app keeps writing (unlike cp of a WAL database).
sqlite3 "$source" ".backup '$copy'"
if [ "$(sqlite3 "$copy" 'PRAGMA quick_check;')" != ok ]; then
    echo "pre-deploy: the copy $copy fails SQLite's quick_check" >&2
    exit 1
fi
echo "pre-deploy: copied $database to $copy"

# Prune: all copies of this database, oldest first; drop all but the newest $keep.
set --
for existing in "$dir/${database%.sqlite3}"-*.sqlite3; do
    [ -e "$existing" ] && set -- "$@" "$existing"
done
excess=$(($# - keep))
while [ "$excess" -gt 0 ]; do
    rm -f -- "$1"
    echo "pre-deploy: pruned $1"
    shift
    excess=$((excess - 1))
done
