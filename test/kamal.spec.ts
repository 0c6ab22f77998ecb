// The rendered Kamal set: consistency with everything else the stack renders, over the three
// stacks and variants of their config, and the real Kamal's own loader on every set.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { STORAGE_CONTAINER_PATH, STORAGE_HOST_PATH } from "../lib/paths";
import { isSecretValue } from "../plan/run";
import { parseConfig } from "../config/parse";
import { activeStorageSettings } from "../renderers/active-storage";
import { stackConfigFromFiles } from "../plan/run";
import { PROXY_CONFIG_VOLUME } from "../cloud-init/user-data";
import { KAMAL_FILES, KAMAL_PROXY, KAMAL_PROXY_IMAGE, kamalInput, LITESTREAM_ACCESSORY, renderKamalSet, THRUSTER_PORT } from "../renderers/kamal";
import { databaseFiles, LITESTREAM_IMAGE } from "../renderers/litestream";
import { ORIGIN_HTTP, ORIGIN_HTTPS } from "../renderers/tunnel";
import { deployCommand, KamalConfigRun, kamalConfig as runKamalConfig, kamalSet } from "./kamal-config";
import { kamalExecutable, OkPlan, plainInputs, planFor, resourcesOfType, ROOT } from "./support";
import { TYPE } from "../plan/resource-types";


/** The stacks and config variants every property must hold for. */
const VARIANTS: { stack: string; overrides: Record<string, string> }[] = [
    { stack: "staging", overrides: {} },
    { stack: "production", overrides: {} },
    { stack: "pr-7", overrides: {} },
    { stack: "staging", overrides: { railsEnv: "qa", solidQueue: "container", deployTimeout: "120" } },
    { stack: "staging", overrides: { tlsMode: "tunnel", hostnames: JSON.stringify(["shop-staging.example.com", "api-staging.example.com"]) } },
    { stack: "production", overrides: { litestreamDatabases: JSON.stringify(["cache=off", "cable=off"]), solidQueue: "puma" } },
    { stack: "pr-42", overrides: { registryServer: "registry.example.com:5000", buildImage: "false", appVersion: "v2.3.4" } },
];
const label = (v: { stack: string; overrides: Record<string, string> }): string => `${v.stack} ${JSON.stringify(v.overrides)}`;

interface KamalConfig {
    service: string;
    servers: Record<string, { hosts: string[]; cmd?: string }>;
    env: { clear: Record<string, string>; secret: string[] };
    registry: { server: string; username: string; password: string[] };
    volumes: string[];
    proxy: { hosts: string[]; ssl: boolean; app_port: number; forward_headers: boolean; healthcheck: { path: string }; run: { bind_ips: string[] } };
    accessories: Record<string, { host: string; volumes: string[]; env: { secret: string[] }; files: string[]; image: string }>;
}


/** deploy.yml merged with the destination file, as Kamal deep-merges them. */
function mergedConfig(set: Record<string, string>, stack: string): KamalConfig {
    const merge = (a: unknown, b: unknown): unknown => {
        if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
            const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
            for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = merge(out[k], v);
            return out;
        }
        return b === undefined ? a : b;
    };
    const parse = (text: string): unknown => YAML.parse(text, { version: "1.1" });
    return merge(parse(set[KAMAL_FILES.base]), parse(set[KAMAL_FILES.destination(stack)])) as KamalConfig;
}


describe("Kamal set: consistent with the rest of the stack", () => {
    const plans = new Map<string, OkPlan>();
    before(async () => {
        for (const variant of VARIANTS) plans.set(label(variant), await planFor(variant.stack, variant.overrides));
    });

    for (const variant of VARIANTS) {
        describe(label(variant), () => {
            let plan: OkPlan;
            let set: Record<string, string>;
            let config: KamalConfig;
            let railsEnv: string;
            before(() => {
                plan = plans.get(label(variant))!;
                set = kamalSet(plan);
                config = mergedConfig(set, variant.stack);
                railsEnv = String(plan.outputs.railsEnv);
            });

            it("RAILS_ENV is the stack's railsEnv, which names every database Litestream replicates", () => {
                assert.strictEqual(config.env.clear.RAILS_ENV, railsEnv);
                assert.strictEqual(railsEnv, variant.overrides.railsEnv ?? (variant.stack === "production" ? "production" : "staging"));
                assert.strictEqual(set[KAMAL_FILES.litestream], plan.artifacts["storage/litestream.yml"]);
                const files = Object.values(databaseFiles(railsEnv)).map((f) => `${STORAGE_CONTAINER_PATH}/${f}`);
                const dbs = (YAML.parse(set[KAMAL_FILES.litestream]) as { dbs: { path: string }[] }).dbs;
                assert.ok(dbs.length > 0);
                for (const db of dbs) assert.ok(files.includes(db.path), `${db.path} is not a ${railsEnv} database`);
                const backup = set[KAMAL_FILES.backupSettings];
                assert.match(backup, new RegExp(`^PRIMARY_DATABASE='${databaseFiles(railsEnv).primary}'$`, "m"));
            });

            it("every secret name has a secrets-file line and a secret value from the Command, and nothing else does", () => {
                const names = new Set([...config.env.secret, ...config.registry.password, ...Object.values(config.accessories).flatMap((a) => a.env.secret)]);
                const lines = set[KAMAL_FILES.secrets(variant.stack)].split("\n").filter((l) => l && !l.startsWith("#"));
                assert.deepStrictEqual(lines.sort(), [...names].map((n) => `${n}=$${n}`).sort());
                const { environment, raw } = deployCommand(plan);
                assert.ok(isSecretValue(raw.environment), "the Command's environment is a secret");
                for (const name of names) assert.ok(environment[name], `the Command supplies ${name}`);
                assert.deepStrictEqual(environment.RAILS_STACK_SECRET_NAMES.split(" ").sort(), [...names].sort());
            });

            it("app and accessory mount the volume cloud-init mounts", () => {
                const mapping = `${STORAGE_HOST_PATH}:${STORAGE_CONTAINER_PATH}`;
                assert.deepStrictEqual(config.volumes, [mapping]);
                assert.deepStrictEqual(config.accessories[LITESTREAM_ACCESSORY].volumes, [mapping]);
                const userData = Object.entries(plan.artifacts).find(([f]) => f.startsWith("cloud-init/"))![1];
                assert.match(userData, new RegExp(`STORAGE_PATH='${STORAGE_HOST_PATH}'`));
            });

            it("servers, accessory and backup hook target the host the stack creates", () => {
                const host = (plan.outputs.host as { tailnetHostname: string }).tailnetHostname;
                assert.deepStrictEqual(config.servers.web.hosts, [host]);
                assert.strictEqual(config.accessories[LITESTREAM_ACCESSORY].host, host);
                assert.match(set[KAMAL_FILES.backupSettings], new RegExp(`^BACKUP_HOST='${host}'$`, "m"));
                assert.match(set[KAMAL_FILES.sshConfig], new RegExp(`^Host ${host}\\n {2}User deploy\\n`, "m"));
                const solidQueue = variant.overrides.solidQueue ?? (variant.stack === "production" ? "container" : "puma");
                assert.deepStrictEqual(Object.keys(config.servers).sort(), solidQueue === "container" ? ["job", "web"] : ["web"]);
                if (solidQueue === "container") assert.deepStrictEqual(config.servers.job, { hosts: [host], cmd: "bin/jobs" });
                assert.strictEqual(config.env.clear.SOLID_QUEUE_IN_PUMA, solidQueue === "puma" ? "true" : undefined);
            });

            it("the proxy serves exactly the tunnel's hostnames, with TLS where the edge sends TLS", () => {
                const ingress = plainInputs(resourcesOfType(plan, TYPE.tunnelConfig)[0]).config as { ingresses: { hostname?: string; service: string }[] };
                const appRules = ingress.ingresses.filter((r) => r.hostname && !("path" in r));
                assert.deepStrictEqual(config.proxy.hosts, plan.outputs.hostnames);
                assert.deepStrictEqual(appRules.map((r) => r.hostname), plan.outputs.hostnames);
                for (const rule of appRules) assert.strictEqual(rule.service, config.proxy.ssl ? ORIGIN_HTTPS : ORIGIN_HTTP);
                assert.strictEqual(config.proxy.ssl, (variant.overrides.tlsMode ?? "acme") === "acme");
                // kamal-proxy listens where cloudflared connects, and forwards the visitor's headers.
                for (const rule of appRules) assert.strictEqual(new URL(rule.service).hostname, config.proxy.run.bind_ips[0]);
                assert.strictEqual(config.proxy.forward_headers, true);
                assert.strictEqual(config.proxy.app_port, THRUSTER_PORT);
                assert.strictEqual(config.proxy.healthcheck.path, "/up");
            });

            it("has no DATABASE_URL anywhere", () => {
                for (const [file, text] of Object.entries(set)) assert.doesNotMatch(text, /DATABASE_URL/, file);
                assert.doesNotMatch(JSON.stringify(deployCommand(plan).environment), /DATABASE_URL/);
            });

            it("registry and image come from the stack config", () => {
                assert.strictEqual(config.registry.server, variant.overrides.registryServer ?? "ghcr.io");
                assert.match(set[KAMAL_FILES.backupSettings], new RegExp(`^IMAGE='${config.registry.server}/acme/shop'$`, "m"));
            });
        });
    }

    it("renders the same bytes twice", async () => {
        for (const variant of VARIANTS) assert.deepStrictEqual(kamalSet(await planFor(variant.stack, variant.overrides)), kamalSet(plans.get(label(variant))!));
    });
});

describe("Kamal set: no ERB but its own", () => {
    it("refuses to render a value from config that Kamal's ERB pass would run, even past validation", () => {
        const parsed = parseConfig(stackConfigFromFiles(ROOT, "staging"), "staging");
        if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
        const activeStorage = activeStorageSettings({ bucket: parsed.settings.storage.attachmentsBucket, endpoint: "https://example.r2.cloudflarestorage.com" });
        const runtime = { target: { host: "shop-staging-web-1", sshPort: 22 }, activeStorage, litestream: "" };
        assert.doesNotThrow(() => renderKamalSet(kamalInput(parsed.settings, runtime)));
        const injected = { ...parsed.settings, registry: { ...parsed.settings.registry, username: "acme<%= %x(id) %>" } };
        assert.throws(() => renderKamalSet(kamalInput(injected, runtime)), /refusing to render "acme<%= %x\(id\) %>" into Kamal's config: Kamal would run it as ERB/);
    });
});

describe("Kamal set: the real Kamal loads it", function () {
    let kamal: string | undefined;
    let tmp: string;
    before(function () {
        kamal = kamalExecutable();
        if (!kamal) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kamal-config-"));
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    /** `kamal config` on the set, written under tmp/<name>, with the probe loaded. */
    const kamalConfig = (plan: OkPlan, set: Record<string, string>, name: string): KamalConfigRun => runKamalConfig(kamal!, plan, set, path.join(tmp, name));

    for (const variant of VARIANTS) {
        it(`${label(variant)}: kamal config exits 0 and reports the stack's RAILS_ENV on every role`, async () => {
            const plan = await planFor(variant.stack, variant.overrides);
            const { status, output, probe } = kamalConfig(plan, kamalSet(plan), `${variant.stack}-${VARIANTS.indexOf(variant)}`);
            assert.strictEqual(status, 0, output);
            assert.ok(probe, output);
            const roles = probe.roles as Record<string, { env: Record<string, string>; secrets: Record<string, string>; hosts: string[] }>;
            assert.ok(Object.keys(roles).length > 0);
            for (const [role, resolved] of Object.entries(roles)) {
                assert.strictEqual(resolved.env.RAILS_ENV, plan.outputs.railsEnv, `${role} RAILS_ENV`);
                for (const [secret, state] of Object.entries(resolved.secrets)) assert.strictEqual(state, "set", `${role} ${secret}`);
            }
            const accessories = probe.accessories as Record<string, { secrets: Record<string, string>; files: string[] }>;
            for (const state of Object.values(accessories[LITESTREAM_ACCESSORY].secrets)) assert.strictEqual(state, "set");
            for (const file of accessories[LITESTREAM_ACCESSORY].files) assert.ok(fs.existsSync(file), file);
            assert.strictEqual(probe.registry_password, "set");
            assert.strictEqual(probe.version, deployCommand(plan).environment.RAILS_STACK_VERSION);
            // As Kamal reads it: the stack's deployTimeout, or Kamal's own 30 where the set leaves it out.
            assert.strictEqual(probe.deploy_timeout, Number(variant.overrides.deployTimeout ?? 30));
        });
    }

    it("images: Litestream's by tag and digest; kamal-proxy's by the tag this Kamal boots, never pulled, on the volume the host prepared", async () => {
        const plan = await planFor("staging");
        const { status, output, probe } = kamalConfig(plan, kamalSet(plan), "images");
        assert.strictEqual(status, 0, output);
        assert.match(LITESTREAM_IMAGE, /^litestream\/litestream:0\.3\.13@sha256:[0-9a-f]{64}$/);
        assert.strictEqual((probe!.accessories as Record<string, { image: string }>)[LITESTREAM_ACCESSORY].image, LITESTREAM_IMAGE);
        const proxy = probe!.proxy as { image: string; run: string; minimum_version: string };
        assert.strictEqual(proxy.image, KAMAL_PROXY_IMAGE);
        // The pin moves with Kamal: a Kamal with a newer minimum needs a new tag and digest here.
        assert.strictEqual(KAMAL_PROXY.version, proxy.minimum_version);
        assert.ok(proxy.run.includes(` --volume ${PROXY_CONFIG_VOLUME}:/home/kamal-proxy/.config/kamal-proxy `), proxy.run);
        assert.ok(proxy.run.endsWith(` --pull "never" ${KAMAL_PROXY_IMAGE} kamal-proxy run`), proxy.run);
    });

    it("Kamal's loader accepts a digest in proxy.run.version: `kamal config` alone cannot tell it breaks the next deploy (test/host-docker.spec.ts)", async () => {
        const plan = await planFor("staging");
        const set = kamalSet(plan);
        const pinned = { ...set, [KAMAL_FILES.base]: set[KAMAL_FILES.base].replace(`version: ${KAMAL_PROXY.version}\n`, `version: ${KAMAL_PROXY.version}@${KAMAL_PROXY.digest}\n`) };
        assert.notStrictEqual(pinned[KAMAL_FILES.base], set[KAMAL_FILES.base]);
        const { status, output, probe } = kamalConfig(plan, pinned, "proxy-digest");
        assert.strictEqual(status, 0, output);
        assert.strictEqual((probe!.proxy as { image: string }).image, `${KAMAL_PROXY_IMAGE}@${KAMAL_PROXY.digest}`);
    });

    it("really validates: Kamal rejects a set with an unknown key, and one read without its destination", async () => {
        const plan = await planFor("staging");
        const set = kamalSet(plan);
        const broken = { ...set, [KAMAL_FILES.base]: `${set[KAMAL_FILES.base]}colour: blue\n` };
        const rejected = kamalConfig(plan, broken, "broken");
        assert.notStrictEqual(rejected.status, 0);
        assert.match(rejected.output, /unknown key: colour/);
        const run = spawnSync(kamal!, ["config", "-c", path.join(tmp, "broken", KAMAL_FILES.base)], { cwd: tmp, encoding: "utf8", env: { PATH: process.env.PATH, HOME: tmp } });
        assert.notStrictEqual(run.status, 0);
    });
});
