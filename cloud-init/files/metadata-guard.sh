# Run by cloud-init's bootcmd, early on every boot (iptables rules do not survive a reboot):
# Hetzner's metadata service at 169.254.169.254 serves this host's user-data, its Tailscale auth
# key included, to anything that asks. Only root (cloud-init itself) may ask; containers (whose
# traffic Docker forwards through DOCKER-USER, kept across Docker restarts) and other users get a
# refusal. Idempotent: each rule is added once.
iptables -w -N DOCKER-USER 2>/dev/null || true
iptables -w -C DOCKER-USER -d 169.254.169.254/32 -j REJECT 2>/dev/null ||
    iptables -w -I DOCKER-USER -d 169.254.169.254/32 -j REJECT
iptables -w -C OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT 2>/dev/null ||
    iptables -w -I OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT
