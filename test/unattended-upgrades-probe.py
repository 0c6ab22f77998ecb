# Loads Debian's unattended-upgrades (/usr/bin/unattended-upgrade, its own code) with nothing but the
# apt.conf file given as argv[1], parsed by apt's own parser (python-apt), then prints one JSON line:
# the origins patterns it allows, whether each origin of argv[2] (a JSON list of Release-file fields
# and site) is allowed, and the commands it runs to reboot when /var/run/reboot-required exists.
# Run by test/cloud-init.spec.ts; nothing is upgraded, nothing is rebooted.
import importlib.machinery
import importlib.util
import json
import os
import sys
import tempfile
import types

import apt_pkg

loader = importlib.machinery.SourceFileLoader("unattended_upgrade", "/usr/bin/unattended-upgrade")
spec = importlib.util.spec_from_loader(loader.name, loader)
uu = importlib.util.module_from_spec(spec)
loader.exec_module(uu)

# Only the file under test: python-apt has read this machine's apt configuration, whose
# unattended-upgrades settings are dropped first.
apt_pkg.config.clear("Unattended-Upgrade")
apt_pkg.read_config_file(apt_pkg.config, sys.argv[1])
allowed = uu.get_allowed_origins()
origins = [types.SimpleNamespace(**{"archive": "", "component": "main", **o}) for o in json.loads(sys.argv[2])]

commands = []
uu.subprocess.check_output = lambda cmd, **_: commands.append(cmd) or b""
with tempfile.NamedTemporaryFile() as required:
    uu.REBOOT_REQUIRED_FILE = required.name
    uu.reboot_if_requested_and_needed()

print(json.dumps({
    "patterns": allowed,
    "allowed": [uu.is_allowed_origin(o, allowed) for o in origins],
    "reboot": commands,
}))
