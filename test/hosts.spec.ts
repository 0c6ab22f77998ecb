// The Hosts component under mocks, its pure policies, the unusable SSH key and the tailnet device
// clean-up script.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { firewallRules, serverResourceOptions, SERVER_IMAGE } from "../components/hosts";
import { DEVICE_CLEANUP_COMMAND } from "../components/tailnet";
import { parseConfig } from "../config/parse";
import type { Settings } from "../config/settings";
import { unusableSshPublicKey } from "../lib/unusable-ssh-key";
import { STORAGE_HOST_PATH } from "../lib/paths";
import { isSecretValue, stableJson, stackConfigFromFiles } from "../plan/run";
import { fakeJsonApi, haveTool, OkPlan, plainInputs, planFor, resourceNamed, resourcesOfType, ROOT } from "./support";


import * as cleanup from "../lib/tailnet-devices";
import { TYPE } from "../plan/resource-types";

function settingsFor(stack: string, overrides: Record<string, string> = {}): Settings {
    const result = parseConfig(stackConfigFromFiles(ROOT, stack, overrides), stack);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    return result.settings;
}

/** Secret values the user-data carries, read back from the rendered files. */
function embeddedSecrets(plan: OkPlan): string[] {
    const values = new Set<string>();
    for (const [artifact, text] of Object.entries(plan.artifacts)) {
        if (!artifact.startsWith("cloud-init/")) continue;
        const files = (YAML.parse(text) as { write_files: { path: string; content: string }[] }).write_files;
        for (const f of files) if (f.path.endsWith("tunnel-token") || f.path.endsWith("tailscale-auth-key")) values.add(f.content.trim());
    }
    return [...values];
}

describe("hosts under mocks", () => {
    let staging: OkPlan;
    let production: OkPlan;
    let review: OkPlan;
    before(async () => {
        staging = await planFor("staging");
        production = await planFor("production");
        review = await planFor("pr-7");
    });

    it("creates one ARM64 Ubuntu 24.04 server per stack, with the firewall attached at creation", () => {
        for (const plan of [staging, production, review]) {
            const firewall = resourcesOfType(plan, TYPE.firewall);
            assert.strictEqual(firewall.length, 1);
            const servers = resourcesOfType(plan, TYPE.server);
            assert.deepStrictEqual(servers.map((server) => server.name), [`shop-${plan.stack}-web-1`]);
            for (const server of servers) {
                const inputs = plainInputs(server);
                assert.match(String(inputs.serverType), /^cax\d+$/);
                assert.strictEqual(inputs.image, SERVER_IMAGE);
                assert.strictEqual(inputs.name, server.name);
                assert.strictEqual((inputs.firewallIds as number[]).length, 1);
                assert.ok(Number.isInteger((inputs.firewallIds as number[])[0]));
                assert.deepStrictEqual(inputs.publicNets, [{ ipv4Enabled: true, ipv6Enabled: true }]);
                assert.strictEqual((inputs.labels as Record<string, string>).stack, plan.stack);
            }
        }
    });

    it("opens no inbound TCP; only Tailscale's UDP port, and nothing when that is off", async () => {
        const rules = plainInputs(resourcesOfType(staging, TYPE.firewall)[0]).rules as { direction: string; protocol: string; port: string }[];
        assert.ok(!rules.some((r) => r.direction === "in" && r.protocol === "tcp"));
        assert.deepStrictEqual(rules.map((r) => [r.direction, r.protocol, r.port]), [["in", "udp", "41641"]]);
        const closed = await planFor("staging", { tailscaleDirectUdp: "false" });
        assert.deepStrictEqual(plainInputs(resourcesOfType(closed, TYPE.firewall)[0]).rules ?? [], []);
    });

    it("attaches the volume through its own serverId, never a separate attachment, and mounts it there", () => {
        for (const plan of [staging, production]) {
            const server = resourceNamed(plan, TYPE.server, `shop-${plan.stack}-web-1`);
            const [volume] = resourcesOfType(plan, TYPE.volume).map(plainInputs);
            assert.strictEqual(volume.serverId, Number((plan.outputs.host as { serverId: string }).serverId));
            assert.strictEqual(volume.format, "ext4");
            assert.strictEqual(volume.automount, false);
            assert.strictEqual(volume.location, plainInputs(server).location, "a volume attaches only in its own location");
            // Only hcloud types of the host: no VolumeAttachment, which a replacement would detach first.
            assert.deepStrictEqual([...new Set(plan.resources.filter((r) => r.type.startsWith("hcloud:index/")).map((r) => r.type))].sort(), [TYPE.firewall, TYPE.server, TYPE.sshKey, TYPE.volume].sort());
            const userData = plan.artifacts[`cloud-init/shop-${plan.stack}-web-1.yaml`];
            assert.match(userData, /STORAGE_PATH='\/mnt\/storage'/);
        }
        assert.strictEqual(plainInputs(resourcesOfType(production, TYPE.volume)[0]).size, 40);
        assert.strictEqual(production.outputs.volumeMountPath, STORAGE_HOST_PATH);
    });

    it("a server type change keeps the disk (a smaller type stays possible) and happens between a clean shutdown and a power-on", () => {
        for (const plan of [staging, production, review]) {
            const hostname = `shop-${plan.stack}-web-1`;
            assert.strictEqual(plainInputs(resourceNamed(plan, TYPE.server, hostname)).keepDisk, true);
            const serverKey = `${TYPE.server}::${hostname}`;
            assert.ok(plan.options.get(serverKey)!.dependsOn.includes(`${TYPE.command}::${hostname}-power-off`), "the server waits for the clean shutdown");
            assert.deepStrictEqual(plan.options.get(`${TYPE.command}::${hostname}-power-on`)!.dependsOn, [serverKey]);
            for (const step of ["power-off", "power-on"]) {
                const inputs = plainInputs(resourceNamed(plan, TYPE.command, `${hostname}-${step}`));
                assert.strictEqual(inputs.create, `node launch.js components/scripts/host-power ${step === "power-off" ? "stop" : "start"}`);
                assert.deepStrictEqual(inputs.triggers, [plainInputs(resourceNamed(plan, TYPE.server, hostname)).serverType, "true"]);
            }
        }
    });

    it("protects production servers and volume; pr-7 has no protection", () => {
        for (const server of resourcesOfType(production, TYPE.server)) {
            assert.strictEqual(plainInputs(server).deleteProtection, true);
            assert.strictEqual(plainInputs(server).rebuildProtection, true);
        }
        assert.strictEqual(plainInputs(resourcesOfType(production, TYPE.volume)[0]).deleteProtection, true);
        for (const server of resourcesOfType(review, TYPE.server)) {
            assert.strictEqual(plainInputs(server).deleteProtection, false);
            assert.strictEqual(plainInputs(server).rebuildProtection, false);
        }
        assert.strictEqual(plainInputs(resourcesOfType(review, TYPE.volume)[0]).deleteProtection, false);
    });

    it("gives every server an unusable per-stack SSH key", () => {
        const keys = [staging, production, review].map((p) => plainInputs(resourcesOfType(p, TYPE.sshKey)[0]).publicKey);
        assert.strictEqual(new Set(keys).size, 3);
        for (const server of resourcesOfType(staging, TYPE.server)) assert.strictEqual((plainInputs(server).sshKeys as string[]).length, 1);
    });

    it("mints one pre-authorized, single-use, tagged key per host; ephemeral exactly on pr-7", () => {
        for (const plan of [staging, production, review]) {
            const keys = resourcesOfType(plan, TYPE.tailnetKey);
            assert.strictEqual(keys.length, resourcesOfType(plan, TYPE.server).length);
            for (const key of keys) {
                const inputs = plainInputs(key);
                assert.strictEqual(inputs.preauthorized, true);
                assert.strictEqual(inputs.reusable, false);
                // One host tag per environment; pr-7 never carries staging's (docs/hosts.md, Access).
                assert.deepStrictEqual(inputs.tags, [{ production: "tag:rails-production", staging: "tag:rails-staging", "pr-7": "tag:rails-review" }[plan.stack]]);
                assert.strictEqual(inputs.ephemeral, plan.stack === "pr-7");
                // A used key reads as invalid: re-minting it on a refresh would replace a healthy server.
                assert.strictEqual(inputs.recreateIfInvalid, "never");
                assert.match(String(inputs.description), new RegExp(`^${key.name.replace(/-tailnet-key$/, "")} [0-9a-f]{8}$`));
                assert.ok(String(inputs.description).length <= 50);
            }
        }
    });

    it("mints a new key exactly when the server would be created anew: so a replacement never boots with a used key", async () => {
        const keyName = "shop-staging-web-1-tailnet-key";
        const description = (plan: OkPlan) => plainInputs(resourceNamed(plan, TYPE.tailnetKey, keyName)).description;
        assert.strictEqual(description(await planFor("staging")), description(staging));
        // What the server is created from: its user-data, and the inputs Hetzner cannot change in place.
        const replacing: Record<string, string>[] = [{ tailscaleTags: JSON.stringify(["tag:other"]) }, { tailscaleDirectUdp: "false" }, { location: "nbg1" }, { rebootWindow: "02:30" }];
        for (const overrides of replacing) assert.notStrictEqual(description(await planFor("staging", overrides)), description(staging), JSON.stringify(overrides));
        // Not part of the boot: the token, the volume, the app and its routing reach the host later.
        const inPlace: Record<string, string>[] = [{ tlsMode: "tunnel" }, { volumeSize: "30" }, { appVersion: "v2" }, { hostnames: JSON.stringify(["other-staging.example.com"]) }, { webServerType: "cax21" }];
        for (const overrides of inPlace) assert.strictEqual(description(await planFor("staging", overrides)), description(staging), JSON.stringify(overrides));
    });

    it("reboots for an update that needs it at the window on production and staging, never on a review stack", async () => {
        const conf = (plan: OkPlan): string => {
            const userData = YAML.parse(plan.artifacts[`cloud-init/shop-${plan.stack}-web-1.yaml`]) as { write_files: { path: string; content: string }[] };
            return userData.write_files.find((f) => f.path === "/etc/apt/apt.conf.d/52rails-host-unattended-upgrades")!.content;
        };
        for (const plan of [staging, production]) {
            assert.match(conf(plan), /^Unattended-Upgrade::Automatic-Reboot "true";\nUnattended-Upgrade::Automatic-Reboot-Time "04:00";$/m, plan.stack);
        }
        assert.match(conf(review), /^Unattended-Upgrade::Automatic-Reboot "false";$/m);
        // A review stack reads staging's file: staging's window does not reach it.
        assert.match(conf(await planFor("pr-7", { rebootWindow: "02:30" })), /^Unattended-Upgrade::Automatic-Reboot "false";$/m);
        assert.match(conf(await planFor("staging", { rebootWindow: "02:30" })), /^Unattended-Upgrade::Automatic-Reboot-Time "02:30";$/m);
        assert.match(conf(await planFor("production", { rebootWindow: "off" })), /^Unattended-Upgrade::Automatic-Reboot "false";$/m);
        for (const plan of [staging, production, review]) assert.match(conf(plan), /origin=Tailscale,.*\n.*origin=cloudflared,/, `${plan.stack} takes the vendors' updates`);
    });

    it("boots with nothing volatile: no tunnel token and no volume id in the user-data", () => {
        for (const plan of [staging, production, review]) {
            const userData = plan.artifacts[`cloud-init/shop-${plan.stack}-web-1.yaml`];
            assert.ok(!userData.includes(String(plan.outputs.tunnelToken)), `${plan.stack}: tunnel token in user-data`);
            assert.ok(!userData.includes(String(plan.outputs.volumeId)), `${plan.stack}: volume id in user-data`);
        }
    });

    it("hands the user-data to each server as a secret", () => {
        for (const plan of [staging, production, review]) {
            for (const server of resourcesOfType(plan, TYPE.server)) {
                assert.ok(isSecretValue(server.inputs.userData), `${server.name} userData is not secret`);
                assert.strictEqual(plainInputs(server).userData, plan.artifacts[`cloud-init/${server.name}.yaml`]);
            }
        }
    });

    it("never puts the tunnel token or an auth key into plan.json, outputs or other artifacts", () => {
        for (const plan of [staging, production, review]) {
            const secrets = embeddedSecrets(plan);
            assert.deepStrictEqual(secrets.length, 1, "the auth key, the one embedded secret");
            const visible = [
                stableJson(plan.entries),
                stableJson({ host: plan.outputs.host, volumeId: plan.outputs.volumeId, volumeMountPath: plan.outputs.volumeMountPath }),
                ...Object.entries(plan.artifacts)
                    .filter(([artifact]) => !artifact.startsWith("cloud-init/"))
                    .map(([, text]) => text),
            ].join("\n");
            for (const secret of secrets) assert.ok(!visible.includes(secret), `${plan.stack}: a secret leaked`);
        }
    });

    it("outputs the host's name, tailnet hostname, IPs and server id", () => {
        const host = production.outputs.host as Record<string, unknown>;
        assert.deepStrictEqual([host.name, host.tailnetHostname], ["shop-production-web-1", "shop-production-web-1"]);
        assert.match(String(host.ipv4), /^203\.0\.113\./);
        assert.match(String(host.ipv6), /^2001:db8:/);
        assert.match(String(host.serverId), /^\d+$/);
        assert.match(String(production.outputs.volumeId), /^\d+$/);
    });

    it("removes each host's tailnet device on delete, with secret credentials", () => {
        for (const plan of [staging, production]) {
            const commands = resourcesOfType(plan, TYPE.command).filter((c) => c.name.endsWith("-tailnet-cleanup"));
            assert.strictEqual(commands.length, resourcesOfType(plan, TYPE.server).length);
            for (const c of commands) {
                const inputs = plainInputs(c);
                assert.strictEqual(inputs.delete, DEVICE_CLEANUP_COMMAND);
                assert.strictEqual(inputs.create, undefined);
                // The credential makes the whole environment secret in state.
                assert.ok(isSecretValue(c.inputs.environment));
                const env = inputs.environment as Record<string, string>;
                assert.strictEqual(env.TAILSCALE_API_KEY, "placeholder-tailscaleApiKey");
                assert.strictEqual(env.TAILSCALE_HOSTNAME, c.name.replace(/-tailnet-cleanup$/, ""));
                assert.strictEqual((inputs.triggers as unknown[]).length, 1);
            }
        }
        assert.ok(fs.existsSync(path.join(ROOT, DEVICE_CLEANUP_COMMAND.split(" ")[1])), "the command's script exists at its relative path");
    });
});

describe("host policies (pure)", () => {
    it("replaces a server whose boot changed on every stack; production's protection makes that deliberate", () => {
        assert.deepStrictEqual(serverResourceOptions(settingsFor("production")), { protect: true, deleteBeforeReplace: true });
        assert.deepStrictEqual(serverResourceOptions(settingsFor("staging")), { protect: false, deleteBeforeReplace: true });
        assert.deepStrictEqual(serverResourceOptions(settingsFor("pr-7")), { protect: false, deleteBeforeReplace: true });
    });

    it("opens UDP 41641 from anywhere only when direct connections are on", () => {
        assert.deepStrictEqual(
            firewallRules(settingsFor("staging")).map((r) => [r.direction, r.protocol, r.port, r.sourceIps]),
            [["in", "udp", "41641", ["0.0.0.0/0", "::/0"]]],
        );
        assert.deepStrictEqual(firewallRules(settingsFor("staging", { tailscaleDirectUdp: "false" })), []);
    });
});

describe("rebootWindow (config)", () => {
    it("is 04:00 UTC by default, any HH:MM or off; review stacks never reboot on their own", () => {
        assert.strictEqual(settingsFor("production").host.rebootWindow, "04:00");
        assert.strictEqual(settingsFor("staging").host.rebootWindow, "04:00");
        assert.strictEqual(settingsFor("staging", { rebootWindow: "23:59" }).host.rebootWindow, "23:59");
        assert.strictEqual(settingsFor("staging", { rebootWindow: "00:00" }).host.rebootWindow, "00:00");
        assert.strictEqual(settingsFor("production", { rebootWindow: "off" }).host.rebootWindow, null);
        assert.strictEqual(settingsFor("pr-7").host.rebootWindow, null);
        assert.strictEqual(settingsFor("pr-7", { rebootWindow: "03:00" }).host.rebootWindow, null);
    });

    it("refuses anything else with one line naming the key, the value and what is allowed", () => {
        for (const value of ["4:00", "24:00", "04:60", "04:00:00", "false", "never", " 04:00"]) {
            const result = parseConfig(stackConfigFromFiles(ROOT, "staging", { rebootWindow: value }), "staging");
            assert.ok(!result.ok, value);
            assert.deepStrictEqual(result.errors, [`rails-stack:rebootWindow: ${JSON.stringify(value)} is not allowed; allowed: a UTC time of day 'HH:MM' (00:00 to 23:59), or 'off'`]);
        }
        // Refused on a review stack too: it is staging's file that is wrong.
        const review = parseConfig(stackConfigFromFiles(ROOT, "pr-7", { rebootWindow: "4am" }), "pr-7");
        assert.ok(!review.ok && review.errors.some((e) => e.startsWith("rails-stack:rebootWindow: ")));
    });
});

describe("unusable per-stack SSH key", () => {
    it("is deterministic, per stack, and a valid OpenSSH ed25519 key", function () {
        const a = unusableSshPublicKey("shop", "staging");
        assert.strictEqual(a, unusableSshPublicKey("shop", "staging"));
        assert.notStrictEqual(a, unusableSshPublicKey("shop", "production"));
        assert.notStrictEqual(a, unusableSshPublicKey("shop", "pr-7"));
        assert.match(a, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} shop-staging-no-private-key$/);
        if (!haveTool("sh", ["-c", "command -v ssh-keygen"])) this.skip();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sshkey-"));
        try {
            for (const stack of ["staging", "production", "pr-7"]) {
                const file = path.join(dir, `${stack}.pub`);
                fs.writeFileSync(file, `${unusableSshPublicKey("shop", stack)}\n`);
                const out = execFileSync("ssh-keygen", ["-l", "-f", file], { encoding: "utf8" });
                assert.match(out, /^256 SHA256:\S+ shop-.*-no-private-key \(ED25519\)/);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("tailnet device clean-up script", () => {
    it("picks the host's devices by OS hostname or MagicDNS first label", () => {
        const devices: cleanup.Device[] = [
            { id: "1", hostname: "shop-staging-web-1", name: "shop-staging-web-1.tail1234.ts.net" },
            { id: "2", hostname: "shop-staging-web-1", name: "shop-staging-web-1-1.tail1234.ts.net" },
            { id: "3", hostname: "shop-staging-web-10", name: "shop-staging-web-10.tail1234.ts.net" },
            { id: "4", hostname: "laptop", name: "SHOP-STAGING-WEB-1.tail1234.ts.net" },
            { id: "5" },
        ];
        assert.deepStrictEqual(cleanup.deviceIdsForHostname(devices, "shop-staging-web-1"), ["1", "2", "4"]);
        assert.deepStrictEqual(cleanup.deviceIdsForHostname(devices, "shop-staging-job-1"), []);
    });

    /** A fake Tailscale API: two devices named h-web-1, one of them already gone. */
    const fakeApi = () =>
        fakeJsonApi((method, url) => {
            const devices = [{ id: "n1", hostname: "h-web-1" }, { id: "n2", hostname: "other" }, { id: "gone", hostname: "h-web-1" }];
            if (url === "/api/v2/oauth/token") return [200, { access_token: "ACCESS-TOKEN" }];
            if (url === "/api/v2/tailnet/-/devices") return [200, { devices }];
            if (method === "DELETE") return [url === "/api/v2/device/gone" ? 404 : 200, {}];
            return [500, {}];
        });

    it("exchanges OAuth client credentials, deletes the devices and tolerates 404s, printing no secret", async () => {
        const api = await fakeApi();
        const lines: string[] = [];
        try {
            const env = { TAILSCALE_BASE_URL: api.url, TAILSCALE_HOSTNAME: "h-web-1", TAILSCALE_TAILNET: "-", TAILSCALE_OAUTH_CLIENT_ID: "CID", TAILSCALE_OAUTH_CLIENT_SECRET: "CSECRET" };
            assert.deepStrictEqual(await cleanup.deleteHostDevices(env, (l) => lines.push(l)), ["n1", "gone"]);
        } finally {
            api.close();
        }
        assert.match(api.requests[0], /^POST \/api\/v2\/oauth\/token .*client_id=CID&client_secret=CSECRET/);
        assert.deepStrictEqual(
            api.requests.slice(1).map((r) => r.split(" ").slice(0, 4).join(" ")),
            ["GET /api/v2/tailnet/-/devices Bearer ACCESS-TOKEN", "DELETE /api/v2/device/n1 Bearer ACCESS-TOKEN", "DELETE /api/v2/device/gone Bearer ACCESS-TOKEN"],
        );
        assert.ok(!lines.join("\n").match(/CSECRET|ACCESS-TOKEN|CID/));
    });

    it("uses an API key as the bearer token and fails loudly on API errors", async () => {
        const api = await fakeApi();
        try {
            const env = { TAILSCALE_BASE_URL: api.url, TAILSCALE_HOSTNAME: "h-web-1", TAILSCALE_TAILNET: "example.com", TAILSCALE_API_KEY: "tskey-api-K" };
            await assert.rejects(cleanup.deleteHostDevices(env, () => undefined), /listing devices failed: HTTP 500/);
            assert.match(api.requests[0], /^GET \/api\/v2\/tailnet\/example.com\/devices Bearer tskey-api-K/);
        } finally {
            api.close();
        }
    });
});
