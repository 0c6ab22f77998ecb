// The user-data renderer: content, secrets handling, Hetzner's size limit, and the validators
// (cloud-init 26.1 JSON schema always; Debian's cloud-init CLI and shellcheck when installed).
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Ajv from "ajv-draft-04";
import * as YAML from "yaml";
import { HostBootFacts, renderUserData, STATIC_FILES_DIR, USER_DATA_MAX_BYTES, volumeDevice } from "../cloud-init/user-data";
import { STORAGE_HOST_PATH } from "../lib/paths";
import { haveTool, OkPlan, planFor, ROOT } from "./support";

const SCHEMA_PATH = path.join(ROOT, "..", "shared", "validators", "cloud-init-schema-v1.json");

const webFacts: HostBootFacts = {
    hostname: "shop-staging-web-1",
    sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKV286JWuyS1aPRw2tWmOIyy2cZoBXT01Z8lfb+fX4N8 deploy@example"],
    tailscaleTags: ["tag:rails-host", "tag:web"],
    tailscaleDirectUdp: true,
    tailscaleAuthKey: "tskey-auth-TEST",
    tunnelToken: "TUNNEL-TOKEN-TEST",
    volume: { id: 4242, mountPath: STORAGE_HOST_PATH },
};

type CloudConfig = {
    write_files: { path: string; content: string; permissions: string; defer?: boolean }[];
    users: { name: string; lock_passwd: boolean; ssh_authorized_keys: string[] }[];
    [key: string]: unknown;
};
const parse = (text: string): CloudConfig => YAML.parse(text) as CloudConfig;
const file = (config: CloudConfig, p: string) => config.write_files.find((f) => f.path === p);

describe("cloud-init user-data renderer", () => {
    it("starts with #cloud-config and uses real booleans", () => {
        const text = renderUserData(webFacts);
        assert.ok(text.startsWith("#cloud-config\n"));
        const config = parse(text);
        for (const key of ["package_update", "package_upgrade", "disable_root"]) assert.strictEqual(config[key], true, key);
        assert.strictEqual(config.ssh_pwauth, false);
        assert.doesNotMatch(text, /:\s+(yes|no|on|off)\s*$/m);
    });

    it("is deterministic", () => assert.strictEqual(renderUserData(webFacts), renderUserData(webFacts)));

    it("creates the deploy user with the configured keys and no password", () => {
        const [user] = parse(renderUserData(webFacts)).users;
        assert.strictEqual(user.name, "deploy");
        assert.strictEqual(user.lock_passwd, true);
        assert.deepStrictEqual(user.ssh_authorized_keys, webFacts.sshPublicKeys);
        assert.ok(!("sudo" in user), "deploy gets no sudo");
    });

    it("hardens sshd and rotates Docker logs", () => {
        const config = parse(renderUserData(webFacts));
        const sshd = file(config, "/etc/ssh/sshd_config.d/10-rails-host.conf")!.content;
        for (const line of ["PermitRootLogin no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "AllowUsers deploy"]) {
            assert.ok(sshd.includes(line), line);
        }
        const daemon = JSON.parse(file(config, "/etc/docker/daemon.json")!.content);
        assert.deepStrictEqual(daemon["log-opts"], { "max-size": "10m", "max-file": "5" });
        assert.ok((config.packages as string[]).includes("docker.io"));
        assert.ok((config.packages as string[]).includes("unattended-upgrades"));
    });

    it("keeps secrets in 0600 files, off any command line", () => {
        const text = renderUserData(webFacts);
        const config = parse(text);
        assert.strictEqual(file(config, "/etc/cloudflared/tunnel-token")!.permissions, "0600");
        assert.strictEqual(file(config, "/etc/cloudflared/tunnel-token")!.content.trim(), "TUNNEL-TOKEN-TEST");
        assert.strictEqual(file(config, "/etc/rails-host/tailscale-auth-key")!.permissions, "0600");
        // Each secret occurs exactly once: in its file.
        assert.strictEqual(text.split("TUNNEL-TOKEN-TEST").length, 2);
        assert.strictEqual(text.split("tskey-auth-TEST").length, 2);
        assert.match(file(config, "/etc/systemd/system/cloudflared-tunnel.service")!.content, /--token-file %d\/tunnel-token/);
    });

    it("mounts the volume and makes Docker require it", () => {
        const web = parse(renderUserData(webFacts));
        const env = file(web, "/etc/rails-host/host.env")!.content;
        assert.ok(env.includes(`STORAGE_DEVICE='${volumeDevice(4242)}'`));
        assert.ok(env.includes(`STORAGE_PATH='${STORAGE_HOST_PATH}'`));
        const dropIn = file(web, "/etc/systemd/system/docker.service.d/10-requires-storage.conf")!;
        assert.strictEqual(dropIn.content, `[Unit]\nRequiresMountsFor=${STORAGE_HOST_PATH}\n`);
        assert.strictEqual(dropIn.defer, true);
    });

    it("passes the Tailscale and firewall settings to the bootstrap script", () => {
        const env = file(parse(renderUserData({ ...webFacts, tailscaleDirectUdp: false })), "/etc/rails-host/host.env")!.content;
        assert.ok(env.includes("TAILSCALE_TAGS='tag:rails-host,tag:web'"));
        assert.ok(env.includes("TAILSCALE_DIRECT_UDP='false'"));
        assert.ok(env.includes("HOST_NAME='shop-staging-web-1'"));
    });

    it("rejects a value that could break out of the env file", () => {
        assert.throws(() => renderUserData({ ...webFacts, tailscaleTags: ["tag:a'b"] }), /shell env file/);
    });

    it("stays under Hetzner's 32 KiB limit with many SSH keys", () => {
        const keys = Array.from({ length: 20 }, () => webFacts.sshPublicKeys[0]);
        assert.ok(Buffer.byteLength(renderUserData({ ...webFacts, sshPublicKeys: keys })) < USER_DATA_MAX_BYTES);
        const tooMany = Array.from({ length: 400 }, () => webFacts.sshPublicKeys[0]);
        assert.throws(() => renderUserData({ ...webFacts, sshPublicKeys: tooMany }), /over Hetzner's/);
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
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

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
        const scripts = fs.readdirSync(STATIC_FILES_DIR).filter((f) => f.endsWith(".sh"));
        assert.ok(scripts.length > 0);
        // Checked as embedded: every write_files entry that is a script, from every rendered file.
        for (const [name, text] of Object.entries(rendered)) {
            for (const entry of parse(text).write_files.filter((f) => f.content.startsWith("#!"))) {
                const target = path.join(dir, "script.sh");
                fs.writeFileSync(target, entry.content);
                execFileSync("shellcheck", [target], { stdio: ["ignore", "pipe", "pipe"] });
                assert.ok(entry.permissions === "0700", `${name} ${entry.path} is executable by root only`);
            }
        }
    });
});
