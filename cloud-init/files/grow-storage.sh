#!/bin/bash
# Grows the storage volume's file system to the size of its block device, online, after the volume
# was resized (Hetzner grows the device only). Run by rails-host-grow-storage.timer and at boot;
# resize2fs does nothing when the file system already fills the device.
set -euo pipefail
# shellcheck source=/dev/null
. "${RAILS_HOST_ROOT:-}/etc/rails-host/host.env"
: "${STORAGE_PATH:?}"

if ! device="$(findmnt -n -o SOURCE --target "$STORAGE_PATH" --mountpoint "$STORAGE_PATH")"; then
    echo "rails-host-grow-storage: $STORAGE_PATH is not mounted; nothing to grow" >&2
    exit 0
fi
resize2fs "$device"
