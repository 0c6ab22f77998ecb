#!/bin/bash
# The rehearsal host (test/rehearsal/host.ts starts it): PID 1 of its own PID, mount and network
# namespaces, so every process it starts ends with it and nothing it mounts is seen outside. It
# gives the real tools the paths a booted host has, without touching this machine's:
#   /mnt/storage   the volume (a directory of the rehearsal), owned by the app's uid
#   /home          the deploy user's home; /etc/passwd, group, shadow with that user in docker
#   /run           a tmpfs holding cloud-init's record of a finished boot and the Docker socket
# then runs dockerd, Debian's registry, sshd and the deployer's ssh-agent until it is killed.
# Inputs (environment): REHEARSAL_DIR, REHEARSAL_STORAGE (the volume's directory), REHEARSAL_ADDRESS
# (this host's address), REHEARSAL_SSH_PORT, REHEARSAL_DNS (where containers resolve names: the
# rehearsal's DNS stand-in).
set -euo pipefail

dir="$REHEARSAL_DIR"

# A sysfs of this network namespace, with the machine's cgroup hierarchy put back for Docker.
mkdir -p "$dir/cgroup"
mount --rbind /sys/fs/cgroup "$dir/cgroup"
mount -t sysfs sysfs /sys
mount --rbind "$dir/cgroup" /sys/fs/cgroup

mount -t tmpfs tmpfs /run
mkdir -p /run/cloud-init /run/sshd
cp "$dir/boot/status.json" "$dir/boot/result.json" /run/cloud-init/
for file in passwd group shadow; do mount --bind "$dir/etc/$file" "/etc/$file"; done
# /mnt becomes a tmpfs first, so the mount point is created in it, not on this machine's disk.
mount -t tmpfs tmpfs /mnt
mkdir /mnt/storage
mount --bind "$REHEARSAL_STORAGE" /mnt/storage
mount --bind "$dir/home" /home

ip link set lo up

# The daemons' temporary files (containerd dumps its stacks there when dockerd signals it) stay in
# the rehearsal's directory, and go with it.
export TMPDIR="$dir/tmp"
mkdir -p "$TMPDIR"

# The deployer's ssh-agent lives here too, so it ends with the rehearsal (host.ts adds the key).
ssh-agent -D -a "$dir/agent.sock" >/dev/null &
# dockerd starts again whenever it exits, unless held: host.ts stops it to record an image reference
# only a registry could have told it (RehearsalHost.addDigestReference).
(
    while :; do
        while [ -e "$dir/dockerd.hold" ]; do sleep 0.1; done
        dockerd --data-root "$dir/docker" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
            -H unix:///run/docker.sock -H "unix://$dir/docker.sock" --storage-driver vfs \
            --dns "$REHEARSAL_DNS" >>"$dir/dockerd.log" 2>&1 || true
        sleep 0.2
    done
) &
docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
/usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
wait
