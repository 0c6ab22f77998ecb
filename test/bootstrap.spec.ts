// The host's boot scripts (cloud-init/files/) run for real by bash against a stand-in root
// (RAILS_HOST_ROOT), with recording stand-ins for every command that would change the machine:
// apt-get, tailscale, systemctl, ufw, sshd, iptables, resize2fs, docker and friends.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { STATIC_FILES_DIR } from "../cloud-init/user-data";
import { KAMAL_PROXY_IMAGE, KAMAL_PROXY_PINNED } from "../renderers/kamal";
import { haveTool, planFor } from "./support";

/**
 * One stand-in for every command: records its name and arguments, fails when the command line
 * matches FAKE_FAIL (a regex; FAKE_FAIL_TIMES limits how often), and plays the few answers the
 * scripts read (gpg finds the pinned key, findmnt reports the mount, iptables -C knows its rules).
 */
const STAND_IN = `#!/bin/bash
name="$(basename "$0")"
line="$name $*"
printf '%s\\n' "$line" >>"$FAKE_LOG"
if [ -n "\${FAKE_FAIL:-}" ] && [[ "$line" =~ $FAKE_FAIL ]]; then
    count=$(($(cat "$FAKE_LOG.failures" 2>/dev/null || echo 0) + 1))
    echo "$count" >"$FAKE_LOG.failures"
    if [ "$count" -le "\${FAKE_FAIL_TIMES:-1000}" ]; then echo "$name: failing as asked" >&2; exit 1; fi
fi
case "$name" in
curl) for ((i = 1; i <= $#; i++)); do [ "\${!i}" = -o ] && { j=$((i + 1)); echo key >"\${!j}"; }; done ;;
gpg) [[ "$*" == *--export* ]] && echo exported ;;
findmnt)
    case "$*" in
    *FSTYPE*) echo ext4 ;;
    *SOURCE*) [ "\${FAKE_MOUNTED:-1}" = 1 ] && echo /dev/disk/by-id/scsi-0HC_Volume_4242 || exit 1 ;;
    esac ;;
mountpoint) exit 1 ;;
systemd-escape) echo mnt-storage.mount ;;
iptables)
    case "$2" in
    -N) grep -qxF "chain $3" "$FAKE_LOG.rules" 2>/dev/null && exit 1; echo "chain $3" >>"$FAKE_LOG.rules" ;;
    -C) grep -qxF "\${*:3}" "$FAKE_LOG.rules" 2>/dev/null || exit 1 ;;
    -I) echo "\${*:3}" >>"$FAKE_LOG.rules" ;;
    esac ;;
esac
exit 0
`;

const COMMANDS = ["apt-get", "curl", "gpg", "systemctl", "tailscale", "usermod", "ufw", "mountpoint", "chattr", "findmnt", "chown", "systemd-escape", "sshd", "iptables", "resize2fs", "sleep", "docker"];

describe("host boot scripts under recording stand-ins", function () {
    let tmp: string;
    let hostEnv: string;

    before(async function () {
        if (!haveTool("bash")) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bootstrap-"));
        fs.mkdirSync(path.join(tmp, "bin"));
        for (const command of COMMANDS) fs.writeFileSync(path.join(tmp, "bin", command), STAND_IN, { mode: 0o755 });
        // The staging host's own env file, as its user-data writes it.
        const plan = await planFor("staging");
        const userData = YAML.parse(plan.artifacts["cloud-init/shop-staging-web-1.yaml"]) as { write_files: { path: string; content: string }[] };
        hostEnv = userData.write_files.find((f) => f.path === "/etc/rails-host/host.env")!.content;
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    /** A fresh stand-in root: the host as cloud-init leaves it before runcmd, with `volumes` attached. */
    function host(name: string, volumes: string[] = ["scsi-0HC_Volume_4242"]): string {
        const root = path.join(tmp, name);
        for (const dir of ["etc/rails-host", "etc/apt/sources.list.d", "dev/disk/by-id", "home/deploy"]) fs.mkdirSync(path.join(root, dir), { recursive: true });
        fs.writeFileSync(path.join(root, "etc/rails-host/host.env"), hostEnv);
        fs.writeFileSync(path.join(root, "etc/rails-host/tailscale-auth-key"), "tskey-auth-TEST\n", { mode: 0o600 });
        fs.writeFileSync(path.join(root, "etc/fstab"), "LABEL=cloudimg-rootfs / ext4 defaults 0 1\n");
        for (const volume of volumes) fs.writeFileSync(path.join(root, "dev/disk/by-id", volume), "");
        // The scripts the bootstrap runs, where cloud-init writes them.
        fs.mkdirSync(path.join(root, "usr/local/sbin"), { recursive: true });
        fs.copyFileSync(path.join(STATIC_FILES_DIR, "proxy-config.sh"), path.join(root, "usr/local/sbin/rails-host-proxy-config"));
        fs.chmodSync(path.join(root, "usr/local/sbin/rails-host-proxy-config"), 0o700);
        return root;
    }

    function run(script: string, root: string, env: Record<string, string> = {}): { status: number | null; output: string; calls: string[] } {
        const log = path.join(root, "calls.log");
        const result = spawnSync("bash", [path.join(STATIC_FILES_DIR, script)], {
            encoding: "utf8",
            env: { PATH: `${path.join(tmp, "bin")}:${process.env.PATH}`, RAILS_HOST_ROOT: root, FAKE_LOG: log, VOLUME_WAIT_SECONDS: "0", ...env },
        });
        const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
        return { status: result.status, output: `${result.stdout}${result.stderr}`, calls };
    }
    const report = (root: string): string[] => fs.readFileSync(path.join(root, "var/lib/rails-host/bootstrap.report"), "utf8").trim().split("\n");
    const index = (calls: string[], pattern: RegExp): number => calls.findIndex((c) => pattern.test(c));

    it("joins the tailnet first, then sets up everything else; every step reports ok", () => {
        const root = host("healthy");
        const { status, output, calls } = run("bootstrap.sh", root);
        assert.strictEqual(status, 0, output);
        assert.deepStrictEqual(report(root), [
            "ok install_tailscale",
            "ok join_tailnet",
            "ok mount_storage",
            "ok disable_openssh",
            "ok install_packages",
            "ok setup_docker",
            "ok prepare_proxy_config",
            "ok pin_proxy_image",
            "ok setup_ufw",
            "ok prepare_tunnel",
            "ok enable_storage_growth",
            "ok enable_updates",
        ]);
        const joined = index(calls, /^tailscale up /);
        assert.ok(joined > 0);
        for (const later of [/^chattr/, /^apt-get .* upgrade/, /docker/, /^ufw/, /ssh\.socket/]) assert.ok(index(calls, later) > joined, `${later} after joining`);
        assert.strictEqual(
            calls[joined],
            `tailscale up --auth-key=file:${root}/etc/rails-host/tailscale-auth-key --hostname=shop-staging-web-1 --advertise-tags=tag:rails-staging --ssh --accept-dns=false`,
        );
        assert.ok(!fs.existsSync(path.join(root, "etc/rails-host/tailscale-auth-key")), "the used key is shredded");
    });

    it("never runs sshd: OpenSSH is disabled and masked without asking it anything", () => {
        const { calls } = run("bootstrap.sh", host("openssh"));
        assert.deepStrictEqual(calls.filter((c) => c.startsWith("sshd")), []);
        assert.ok(calls.includes("systemctl disable --now ssh.socket ssh.service"));
        assert.ok(calls.includes("systemctl mask ssh.socket ssh.service"));
    });

    it("waits for the dpkg lock on every apt run, and retries one that fails", () => {
        const root = host("apt");
        const { status, calls } = run("bootstrap.sh", root, { FAKE_FAIL: "^apt-get .* install -y tailscale$", FAKE_FAIL_TIMES: "2" });
        assert.strictEqual(status, 0);
        const apt = calls.filter((c) => c.startsWith("apt-get"));
        assert.ok(apt.length >= 6);
        for (const call of apt) assert.match(call, /^apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold /);
        assert.strictEqual(apt.filter((c) => c.endsWith("install -y tailscale")).length, 3, "two failures, then success");
        assert.ok(calls.includes("sleep 10") && calls.includes("sleep 20"));
    });

    it("mounts the volume by its by-id path, records it in fstab, and hands it to the app's uid", () => {
        const root = host("mount");
        const { calls } = run("bootstrap.sh", root);
        assert.ok(calls.includes(`chattr +i ${root}/mnt/storage`), "the bare mount point is immutable");
        assert.match(fs.readFileSync(path.join(root, "etc/fstab"), "utf8"), /^\/dev\/disk\/by-id\/scsi-0HC_Volume_4242 \/mnt\/storage ext4 discard,nofail,x-systemd\.device-timeout=10min 0 2$/m);
        assert.ok(calls.includes("systemctl start mnt-storage.mount"));
        assert.ok(calls.includes(`chown 1000:1000 ${root}/mnt/storage`));
    });

    it("prepares the tunnel token file for the deploy step and watches it", () => {
        const root = host("tunnel");
        const { calls } = run("bootstrap.sh", root);
        const token = path.join(root, "home/deploy/.rails-host/tunnel-token");
        assert.strictEqual(fs.statSync(token).mode & 0o777, 0o600);
        assert.strictEqual(fs.statSync(path.dirname(token)).mode & 0o777, 0o700);
        assert.ok(calls.includes(`chown -R deploy:deploy ${path.dirname(token)}`));
        assert.ok(calls.includes("systemctl enable --now cloudflared-token.path"));
        assert.ok(calls.includes("systemctl enable cloudflared-tunnel.service"));
    });

    it("takes no DNS from the tailnet: the host keeps its own resolver", () => {
        const { calls } = run("bootstrap.sh", host("dns"));
        const up = calls.filter((c) => c.startsWith("tailscale up "));
        assert.strictEqual(up.length, 1);
        assert.match(up[0], / --accept-dns=false$/);
    });

    it("pulls kamal-proxy by its digest and gives it the tag Kamal runs, after Docker is up; a registry hiccup is retried", () => {
        const root = host("proxy-image");
        const { status, calls } = run("bootstrap.sh", root, { FAKE_FAIL: "^docker pull ", FAKE_FAIL_TIMES: "1" });
        assert.strictEqual(status, 0);
        const pulls = calls.filter((c) => c.startsWith("docker pull"));
        assert.deepStrictEqual(pulls, Array(2).fill(`docker pull --quiet ${KAMAL_PROXY_PINNED}`));
        const tag = index(calls, /^docker tag /);
        assert.strictEqual(calls[tag], `docker tag ${KAMAL_PROXY_PINNED} ${KAMAL_PROXY_IMAGE}`);
        assert.ok(tag > calls.lastIndexOf(pulls[1]) && index(calls, /^systemctl enable --now docker\.service$/) < index(calls, /^docker pull/));
        assert.match(KAMAL_PROXY_PINNED, /^basecamp\/kamal-proxy@sha256:[0-9a-f]{64}$/);
    });

    it("puts kamal-proxy's configuration on the volume before Kamal boots it: a bind-backed named volume, the last host's routes gone, its certificates kept", () => {
        const root = host("proxy-config");
        const dir = path.join(root, "mnt/storage/kamal-proxy");
        // What a replaced host left on the volume.
        fs.mkdirSync(path.join(dir, "certs/0123abcd"), { recursive: true });
        fs.writeFileSync(path.join(dir, "certs/0123abcd/shop-staging.example.com"), "certificate and key\n");
        fs.writeFileSync(path.join(dir, "kamal-proxy.state"), '[{"name":"shop-web-staging"}]\n');
        const { status, output, calls } = run("bootstrap.sh", root);
        assert.strictEqual(status, 0, output);
        assert.ok(!fs.existsSync(path.join(dir, "kamal-proxy.state")), "the old host's routes are gone");
        assert.strictEqual(fs.readFileSync(path.join(dir, "certs/0123abcd/shop-staging.example.com"), "utf8"), "certificate and key\n");
        const create = index(calls, /^docker volume create /);
        assert.strictEqual(calls[create], "docker volume create --driver local --opt type=none --opt o=bind --opt device=/mnt/storage/kamal-proxy kamal-proxy-config");
        assert.ok(create > index(calls, /^systemctl start mnt-storage\.mount$/) && create > index(calls, /^systemctl enable --now docker\.service$/));
        // A first host: an empty directory, for Docker to fill from the image.
        const fresh = host("proxy-config-fresh");
        assert.strictEqual(run("bootstrap.sh", fresh).status, 0);
        assert.deepStrictEqual(fs.readdirSync(path.join(fresh, "mnt/storage/kamal-proxy")), []);
    });

    it("a failing step fails cloud-init but stops no unrelated step", () => {
        const root = host("packages-fail");
        const { status, output, calls } = run("bootstrap.sh", root, { FAKE_FAIL: "^apt-get .* install -y docker\\.io" });
        assert.strictEqual(status, 1);
        assert.match(output, /failed: install_packages setup_docker prepare_proxy_config pin_proxy_image setup_ufw prepare_tunnel enable_updates/);
        assert.deepStrictEqual(report(root), [
            "ok install_tailscale",
            "ok join_tailnet",
            "ok mount_storage",
            "ok disable_openssh",
            "failed install_packages (exit 1)",
            "skipped setup_docker (needs install_packages)",
            "skipped prepare_proxy_config (needs setup_docker)",
            "skipped pin_proxy_image (needs setup_docker)",
            "skipped setup_ufw (needs install_packages)",
            "skipped prepare_tunnel (needs install_packages)",
            "ok enable_storage_growth",
            "skipped enable_updates (needs install_packages)",
        ]);
        assert.ok(calls.includes("systemctl start mnt-storage.mount"), "the mount happened");
    });

    it("a volume that never arrives fails its step only; two volumes are refused", () => {
        const none = host("no-volume", []);
        const missing = run("bootstrap.sh", none);
        assert.strictEqual(missing.status, 1);
        assert.match(missing.output, /no volume attached after 0s/);
        assert.deepStrictEqual(report(none).filter((l) => l.startsWith("failed")), ["failed mount_storage (exit 1)"]);
        const two = host("two-volumes", ["scsi-0HC_Volume_1", "scsi-0HC_Volume_2"]);
        const refused = run("bootstrap.sh", two);
        assert.match(refused.output, /expected one attached volume, found 2/);
        assert.ok(!fs.readFileSync(path.join(two, "etc/fstab"), "utf8").includes("HC_Volume"));
    });

    it("grows the mounted volume's file system, and does nothing when nothing is mounted", () => {
        const root = host("grow");
        const grown = run("grow-storage.sh", root);
        assert.strictEqual(grown.status, 0, grown.output);
        assert.deepStrictEqual(grown.calls, ["findmnt -n -o SOURCE --target /mnt/storage --mountpoint /mnt/storage", "resize2fs /dev/disk/by-id/scsi-0HC_Volume_4242"]);
        const unmounted = run("grow-storage.sh", host("grow-unmounted"), { FAKE_MOUNTED: "0" });
        assert.strictEqual(unmounted.status, 0);
        assert.ok(!unmounted.calls.some((c) => c.startsWith("resize2fs")));
        assert.match(unmounted.output, /is not mounted; nothing to grow/);
    });

    it("the metadata guard refuses 169.254.169.254 to containers and non-root users, once per rule", () => {
        const root = host("guard");
        const first = run("metadata-guard.sh", root);
        assert.strictEqual(first.status, 0, first.output);
        const rules = () => fs.readFileSync(path.join(root, "calls.log.rules"), "utf8").trim().split("\n");
        assert.deepStrictEqual(rules(), [
            "chain DOCKER-USER",
            "DOCKER-USER -d 169.254.169.254/32 -j REJECT",
            "OUTPUT -d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT",
        ]);
        const again = run("metadata-guard.sh", root);
        assert.strictEqual(again.status, 0, again.output);
        assert.strictEqual(rules().length, 3, "a second boot adds nothing twice");
    });
});
