// The user-data renderer: content, secrets handling, Hetzner's size limit, and the validators
// (cloud-init 26.1 JSON schema always; Debian's cloud-init CLI and shellcheck when installed).
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Ajv from "ajv-draft-04";
import * as YAML from "yaml";
import { HostBootFacts, hostUnits, renderUserData, STATIC_FILES_DIR, unattendedUpgradesConf, USER_DATA_MAX_BYTES, VENDOR_APT_ORIGINS } from "../cloud-init/user-data";
import { haveTool, OkPlan, planFor, ROOT } from "./support";

const SCHEMA_PATH = path.join(ROOT, "test", "validators", "cloud-init-schema-v1.json");

const facts: HostBootFacts = {
    hostname: "shop-staging-web-1",
    tailscaleTags: ["tag:rails-host", "tag:web"],
    tailscaleDirectUdp: true,
    tailscaleAuthKey: "tskey-auth-TEST",
    rebootWindow: "04:00",
};

type CloudConfig = {
    write_files: { path: string; content: string; permissions: string }[];
    users: Record<string, unknown>[];
    bootcmd: string[];
    runcmd: string[][];
    [key: string]: unknown;
};
const parse = (text: string): CloudConfig => YAML.parse(text) as CloudConfig;
const file = (config: CloudConfig, p: string) => config.write_files.find((f) => f.path === p);

describe("cloud-init user-data renderer", () => {
    it("starts with #cloud-config and uses real booleans", () => {
        const text = renderUserData(facts);
        assert.ok(text.startsWith("#cloud-config\n"));
        const config = parse(text);
        assert.strictEqual(config.disable_root, true);
        assert.strictEqual(config.ssh_pwauth, false);
        assert.doesNotMatch(text, /:\s+(yes|no|on|off)\s*$/m);
    });

    it("is deterministic", () => assert.strictEqual(renderUserData(facts), renderUserData(facts)));

    it("creates the deploy user with no password, no keys and no sudo: Tailscale SSH lets it in", () => {
        const [user] = parse(renderUserData(facts)).users;
        assert.deepStrictEqual(user, { name: "deploy", shell: "/bin/bash", lock_passwd: true });
    });

    it("leaves packages to the bootstrap, which waits for the dpkg lock (cloud-init gives up after 30 s)", () => {
        const config = parse(renderUserData(facts));
        for (const key of ["packages", "package_update", "package_upgrade"]) assert.ok(!(key in config), key);
        assert.strictEqual(file(config, "/etc/apt/apt.conf.d/80rails-host-lock-timeout")!.content, 'DPkg::Lock::Timeout "600";\n');
        assert.match(file(config, "/usr/local/sbin/rails-host-bootstrap")!.content, /apt-get -q -o DPkg::Lock::Timeout=600/);
        assert.deepStrictEqual(config.runcmd, [["/usr/local/sbin/rails-host-bootstrap"]]);
    });

    it("carries no tunnel token, no volume id and no SSH configuration: nothing volatile, nothing unused", () => {
        const text = renderUserData(facts);
        assert.doesNotMatch(text, /HC_Volume_\d|sshd_config|ssh_authorized_keys/);
        assert.deepStrictEqual(parse(text).write_files.filter((f) => f.path.includes("tunnel-token")), []);
        const env = file(parse(text), "/etc/rails-host/host.env")!.content;
        assert.strictEqual(
            env,
            "HOST_NAME='shop-staging-web-1'\nTAILSCALE_TAGS='tag:rails-host,tag:web'\nTAILSCALE_DIRECT_UDP='true'\nSTORAGE_PATH='/mnt/storage'\n" +
                "APP_UID='1000'\nDEPLOY_USER='deploy'\nTUNNEL_TOKEN_FILE='/home/deploy/.rails-host/tunnel-token'\nBOOTSTRAP_REPORT='/var/lib/rails-host/bootstrap.report'\n" +
                "PROXY_CONFIG_VOLUME='kamal-proxy-config'\nPROXY_CONFIG_DIR='/mnt/storage/kamal-proxy'\nKAMAL_PROXY_IMAGE='basecamp/kamal-proxy:v0.9.2'\n" +
                "KAMAL_PROXY_PINNED='basecamp/kamal-proxy@sha256:826a6f66c6ba26ac26197ac8755804403c9bb617b90cfac25c7972154c5328ab'\n",
        );
    });

    it("keeps the auth key in a 0600 file, off any command line, exactly once", () => {
        const text = renderUserData(facts);
        const config = parse(text);
        assert.strictEqual(file(config, "/etc/rails-host/tailscale-auth-key")!.permissions, "0600");
        assert.strictEqual(text.split("tskey-auth-TEST").length, 2);
    });

    it("guards the metadata service before anything else, on every boot", () => {
        const config = parse(renderUserData(facts));
        assert.deepStrictEqual(config.bootcmd, [fs.readFileSync(path.join(STATIC_FILES_DIR, "metadata-guard.sh"), "utf8")]);
        assert.match(config.bootcmd[0], /169\.254\.169\.254/);
    });

    it("rotates Docker logs and makes Docker require the storage mount", () => {
        const config = parse(renderUserData(facts));
        const daemon = JSON.parse(file(config, "/etc/docker/daemon.json")!.content);
        assert.deepStrictEqual(daemon["log-opts"], { "max-size": "10m", "max-file": "5" });
        const dropIn = file(config, "/etc/systemd/system/docker.service.d/10-requires-storage.conf")!;
        assert.match(dropIn.content, /^\[Unit\]\nRequiresMountsFor=\/mnt\/storage$/m);
    });

    it("runs cloudflared from the token file the deploy step writes, and restarts it when that file changes", () => {
        const units = hostUnits();
        assert.match(units["cloudflared-tunnel.service"], /^ConditionFileNotEmpty=\/home\/deploy\/\.rails-host\/tunnel-token$/m);
        assert.match(units["cloudflared-tunnel.service"], /^LoadCredential=tunnel-token:\/home\/deploy\/\.rails-host\/tunnel-token$/m);
        assert.match(units["cloudflared-tunnel.service"], /--token-file %d\/tunnel-token/);
        assert.match(units["cloudflared-token.path"], /^PathChanged=\/home\/deploy\/\.rails-host\/tunnel-token\nUnit=cloudflared-token-changed\.service$/m);
        assert.match(units["cloudflared-token-changed.service"], /^ExecStart=\/usr\/bin\/systemctl restart cloudflared-tunnel\.service$/m);
        const config = parse(renderUserData(facts));
        for (const [name, content] of Object.entries(units)) assert.strictEqual(file(config, `/etc/systemd/system/${name}`)!.content, content);
    });

    it("grows the volume's file system after a resize, from a timer", () => {
        const units = hostUnits();
        assert.match(units["rails-host-grow-storage.timer"], /^OnUnitActiveSec=10min$/m);
        assert.match(units["rails-host-grow-storage.service"], /^ExecStart=\/usr\/local\/sbin\/rails-host-grow-storage$/m);
        const script = file(parse(renderUserData(facts)), "/usr/local/sbin/rails-host-grow-storage")!;
        assert.strictEqual(script.permissions, "0700");
        assert.match(script.content, /^resize2fs "\$device"$/m);
    });

    it("passes the Tailscale and firewall settings to the bootstrap script", () => {
        const env = file(parse(renderUserData({ ...facts, tailscaleDirectUdp: false })), "/etc/rails-host/host.env")!.content;
        assert.ok(env.includes("TAILSCALE_DIRECT_UDP='false'"));
    });

    it("lets unattended-upgrades take Tailscale's and cloudflared's updates, and reboot at the window, in UTC", () => {
        const config = parse(renderUserData(facts));
        assert.strictEqual(config.timezone, "Etc/UTC");
        const conf = file(config, "/etc/apt/apt.conf.d/52rails-host-unattended-upgrades")!;
        assert.strictEqual(conf.permissions, "0644");
        assert.strictEqual(conf.content, unattendedUpgradesConf("04:00"));
        assert.match(conf.content, /^Unattended-Upgrade::Origins-Pattern \{\n {8}"origin=Tailscale,label=Tailscale,codename=noble,site=pkgs\.tailscale\.com";\n {8}"origin=cloudflared,label=cloudflared,codename=any,site=pkg\.cloudflare\.com";\n\};$/m);
        assert.match(conf.content, /^Unattended-Upgrade::Automatic-Reboot "true";\nUnattended-Upgrade::Automatic-Reboot-Time "04:00";\nUnattended-Upgrade::Automatic-Reboot-WithUsers "true";$/m);
        const off = file(parse(renderUserData({ ...facts, rebootWindow: null })), "/etc/apt/apt.conf.d/52rails-host-unattended-upgrades")!.content;
        assert.match(off, /^Unattended-Upgrade::Automatic-Reboot "false";$/m);
        assert.doesNotMatch(off, /Automatic-Reboot-Time/);
        assert.match(off, /origin=Tailscale/, "updates still install without the reboot");
        assert.throws(() => unattendedUpgradesConf('04:00"; Evil "1'), /contains '"'/);
    });

    it("allows every apt repository the bootstrap adds, by its host and dist", () => {
        const bootstrap = fs.readFileSync(path.join(STATIC_FILES_DIR, "bootstrap.sh"), "utf8");
        const repositories = [...bootstrap.matchAll(/"deb \[[^\]]*\] https:\/\/([^/\s]+)\S* (\S+) main"/g)].map(([, site, dist]) => ({ site, dist }));
        assert.deepStrictEqual(repositories, [{ site: "pkgs.tailscale.com", dist: "noble" }, { site: "pkg.cloudflare.com", dist: "any" }]);
        assert.deepStrictEqual(repositories, VENDOR_APT_ORIGINS.map((o) => ({ site: o.site, dist: o.codename })));
    });

    it("rejects a value that could break out of the env file", () => {
        assert.throws(() => renderUserData({ ...facts, tailscaleTags: ["tag:a'b"] }), /shell env file/);
    });

    it("stays under Hetzner's 32 KiB limit", () => {
        // Room to grow: a quarter of the limit left (about 20 KiB now).
        assert.ok(Buffer.byteLength(renderUserData(facts)) < (USER_DATA_MAX_BYTES * 3) / 4);
        assert.throws(() => renderUserData({ ...facts, tailscaleTags: Array.from({ length: 3000 }, (_, i) => `tag:t${i}`) }), /over Hetzner's/);
    });
});

describe("cloud-init validators (staging and production user-data)", function () {
    const rendered: Record<string, string> = {};
    let dir: string;

    before(async () => {
        for (const stack of ["staging", "production"]) {
            const plan: OkPlan = await planFor(stack);
            for (const [artifact, text] of Object.entries(plan.artifacts)) {
                if (artifact.startsWith("cloud-init/")) rendered[`${stack}:${artifact}`] = text;
            }
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "user-data-"));
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    it("covers both stacks", () => {
        assert.deepStrictEqual(Object.keys(rendered).sort(), ["production:cloud-init/shop-production-web-1.yaml", "staging:cloud-init/shop-staging-web-1.yaml"]);
    });

    it("passes the cloud-init 26.1 JSON schema (draft-04)", () => {
        const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
        const validate = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_PATH, "utf8")));
        for (const [name, text] of Object.entries(rendered)) {
            assert.ok(validate(YAML.parse(text)), `${name}: ${JSON.stringify(validate.errors)}`);
            assert.ok(Buffer.byteLength(text) < USER_DATA_MAX_BYTES, `${name} over 32 KiB`);
        }
    });

    it("passes `cloud-init schema -c` (Debian's cloud-init)", function () {
        if (!haveTool("cloud-init", ["--version"])) this.skip();
        for (const [name, text] of Object.entries(rendered)) {
            const target = path.join(dir, name.replace(/[:/]/g, "_"));
            fs.writeFileSync(target, text);
            const out = execFileSync("cloud-init", ["schema", "-c", target], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
            assert.match(out, /Valid cloud-config/, name);
        }
    });

    it("embeds only shell that passes shellcheck", function () {
        if (!haveTool("shellcheck")) this.skip();
        // Checked as embedded: every write_files entry that is a script, and the bootcmd (run by sh).
        for (const [name, text] of Object.entries(rendered)) {
            const config = parse(text);
            const scripts = config.write_files.filter((f) => f.content.startsWith("#!"));
            assert.deepStrictEqual(scripts.map((s) => s.path).sort(), ["/usr/local/sbin/rails-host-bootstrap", "/usr/local/sbin/rails-host-grow-storage", "/usr/local/sbin/rails-host-proxy-config"]);
            for (const entry of scripts) {
                const target = path.join(dir, "script.sh");
                fs.writeFileSync(target, entry.content);
                execFileSync("shellcheck", [target], { stdio: ["ignore", "pipe", "pipe"] });
                assert.ok(entry.permissions === "0700", `${name} ${entry.path} is executable by root only`);
            }
            fs.writeFileSync(path.join(dir, "bootcmd.sh"), config.bootcmd.join("\n"));
            execFileSync("shellcheck", ["--shell=sh", path.join(dir, "bootcmd.sh")], { stdio: ["ignore", "pipe", "pipe"] });
        }
    });

    it("Debian's unattended-upgrades, reading the file with apt's parser: the vendors' origins allowed, look-alikes not, a reboot at the window only", function () {
        // Its own code (test/unattended-upgrades-probe.py); the Release fields are those the vendors publish (cloud-init/user-data.ts).
        if (!haveTool("/usr/bin/python3", ["-c", "import apt_pkg"]) || !haveTool("/usr/bin/unattended-upgrade", ["--help"])) this.skip();
        const tailscale = { origin: "Tailscale", label: "Tailscale", codename: "noble", site: "pkgs.tailscale.com" };
        const cloudflared = { origin: "cloudflared", label: "cloudflared", codename: "any", site: "pkg.cloudflare.com" };
        const origins = [
            tailscale,
            cloudflared,
            { ...tailscale, site: "tailscale.example.com" },
            { ...cloudflared, label: "cloudflared-beta" },
            { ...tailscale, codename: "jammy" },
            { origin: "Ubuntu", label: "Ubuntu", codename: "noble", archive: "noble-updates", site: "archive.ubuntu.com" },
        ];
        const probe = (conf: string): { patterns: string[]; allowed: boolean[]; reboot: string[][] } => {
            const target = path.join(dir, "52rails-host-unattended-upgrades");
            fs.writeFileSync(target, conf);
            const run = spawnSync("/usr/bin/python3", [path.join(ROOT, "test", "unattended-upgrades-probe.py"), target, JSON.stringify(origins)], { encoding: "utf8" });
            assert.strictEqual(run.status, 0, run.stderr);
            return JSON.parse(run.stdout);
        };
        for (const [name, text] of Object.entries(rendered)) {
            const conf = parse(text).write_files.find((f) => f.path === "/etc/apt/apt.conf.d/52rails-host-unattended-upgrades")!.content;
            const result = probe(conf);
            assert.strictEqual(result.patterns.length, 2, name);
            assert.deepStrictEqual(result.allowed, [true, true, false, false, false, false], name);
            assert.deepStrictEqual(result.reboot, [["/sbin/shutdown", "-r", "04:00"]], name);
        }
        assert.deepStrictEqual(probe(unattendedUpgradesConf(null)).reboot, [], "off: no reboot");
        assert.deepStrictEqual(probe(unattendedUpgradesConf("23:59")).reboot, [["/sbin/shutdown", "-r", "23:59"]]);
    });

    it("embeds systemd units that systemd-analyze verify accepts", function () {
        if (!haveTool("systemd-analyze", ["--version"])) this.skip();
        const units = path.join(dir, "units");
        fs.mkdirSync(units, { recursive: true });
        for (const [name, content] of Object.entries(hostUnits())) fs.writeFileSync(path.join(units, name), content);
        // Only the unit files themselves: their ExecStart binaries exist on the host, not here.
        const run = spawnSync("systemd-analyze", ["verify", "--man=no", ...Object.keys(hostUnits()).map((n) => path.join(units, n))], { encoding: "utf8" });
        const problems = run.stderr.split("\n").filter((l) => l && !/is not executable|No such file or directory|Command .* is not executable|Unit is bound to inactive unit|not found/.test(l));
        assert.deepStrictEqual(problems, []);
    });
});
