// The deploy component under mocks: what makes it run again, what stays secret, what it waits for.
import * as assert from "assert";
import { DEPLOY_COMMAND } from "../components/deploy";
import { isSecretValue } from "../plan/run";
import { OkPlan, plainInputs, planFor, resourcesOfType, TEST_CHECKOUT_COMMIT } from "./support";
import { TYPE } from "../plan/resource-types";


function deployCommand(plan: OkPlan) {
    const [command] = resourcesOfType(plan, TYPE.command).filter((c) => c.name.endsWith("-deploy-kamal"));
    return command;
}
const triggers = (plan: OkPlan): unknown[] => plainInputs(deployCommand(plan)).triggers as unknown[];

describe("deploy component under mocks", () => {
    let staging: OkPlan;
    before(async () => {
        staging = await planFor("staging");
    });

    it("runs the repository's deploy script with no delete step, streaming secret output", () => {
        const inputs = plainInputs(deployCommand(staging));
        assert.strictEqual(inputs.create, DEPLOY_COMMAND);
        assert.strictEqual(inputs.delete, undefined, "a replacement or destroy never touches the running app");
        assert.strictEqual(inputs.update, undefined, "first and later deploys run the same command");
        assert.strictEqual(inputs.addPreviousOutputInEnv, false);
        assert.strictEqual(inputs.logging, "stdoutAndStderr");
        assert.deepStrictEqual(staging.options.get(`${TYPE.command}::shop-staging-deploy-kamal`)!.additionalSecretOutputs, ["stdout", "stderr"]);
    });

    it("keeps every secret value secret: each is a Pulumi secret where the engine receives it", () => {
        const command = deployCommand(staging);
        const registered = staging.registrations.get(`${TYPE.command}::${command.name}`)?.inputs.environment as Record<string, unknown>;
        const environment = plainInputs(command).environment as Record<string, string>;
        const names = environment.RAILS_STACK_SECRET_NAMES.split(" ");
        for (const name of [...names, "RAILS_STACK_TUNNEL_TOKEN"]) assert.ok(isSecretValue(registered[name]), `${name} is not a secret`);
        assert.ok(!isSecretValue(registered.RAILS_STACK_RAILS_ENV), "a plain value stays in clear (plan.json shows it)");
        assert.deepStrictEqual(names, ["KAMAL_REGISTRY_PASSWORD", "RAILS_MASTER_KEY", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"]);
        assert.strictEqual(environment.KAMAL_REGISTRY_PASSWORD, "placeholder-registryPassword");
        assert.strictEqual(environment.RAILS_MASTER_KEY, "placeholder-railsMasterKey");
        // Two pairs: the app's reaches the attachments bucket alone, Litestream's the backups bucket alone.
        assert.deepStrictEqual(
            [environment.R2_ACCESS_KEY_ID, environment.R2_SECRET_ACCESS_KEY, environment.LITESTREAM_ACCESS_KEY_ID, environment.LITESTREAM_SECRET_ACCESS_KEY],
            ["placeholder-r2AttachmentsAccessKeyId", "placeholder-r2AttachmentsSecretAccessKey", "placeholder-r2BackupsAccessKeyId", "placeholder-r2BackupsSecretAccessKey"],
        );
        // The rendered files carry names, never values.
        const files = Object.entries(environment).filter(([k]) => k.startsWith("RAILS_STACK_FILE_")).map(([, v]) => v).join("\n");
        for (const name of names) assert.ok(!files.includes(environment[name]), `${name}'s value is in a rendered file`);
    });

    it("deploys the pinned version, or else the checkout's commit", async () => {
        const env = (plan: OkPlan) => plainInputs(deployCommand(plan)).environment as Record<string, string>;
        assert.strictEqual(env(staging).RAILS_STACK_VERSION, TEST_CHECKOUT_COMMIT);
        assert.strictEqual(env(await planFor("production")).RAILS_STACK_VERSION, "3f9c2a1d7be04c5e8a6b1d2c4e5f60718293a4b5");
        assert.strictEqual(staging.outputs.deployedVersion, TEST_CHECKOUT_COMMIT);
        assert.strictEqual(staging.outputs.kamalDestination, "staging");
    });

    it("changes its triggers when, and only when, something it deploys changes", async () => {
        assert.deepStrictEqual(triggers(await planFor("staging")), triggers(staging), "no change, no deploy");
        const deployed: Record<string, string>[] = [
            { railsEnv: "qa" },
            { appVersion: "v2" },
            { hostnames: JSON.stringify(["shop2-staging.example.com"]) },
            { solidQueue: "container" },
            { tlsMode: "tunnel" },
            { litestreamDatabases: JSON.stringify(["cache=off"]) },
            { registryServer: "registry.example.com" },
            { deployBackups: "9" },
            { deployTimeout: "120" },
            { image: "acme/shop-next" },
        ];
        for (const overrides of deployed) {
            assert.notDeepStrictEqual(triggers(await planFor("staging", overrides)), triggers(staging), JSON.stringify(overrides));
        }
        // Changed in place: neither what is deployed nor the server (a replaced server is a new id).
        const notDeployed: Record<string, string>[] = [{ volumeSize: "20" }, { publicIpv4: "false" }, { protect: "true" }];
        for (const overrides of notDeployed) {
            assert.deepStrictEqual(triggers(await planFor("staging", overrides)), triggers(staging), JSON.stringify(overrides));
        }
        // A replaced server is a new host: its id is the third trigger.
        assert.strictEqual(triggers(staging)[2], (staging.outputs.host as { serverId: string }).serverId);
    });

    it("waits for exactly what the deploy needs: the server (powered on), its volume, the tunnel's routes, the stack's own buckets (and production's lock)", async () => {
        for (const plan of [staging, await planFor("production"), await planFor("pr-7")]) {
            const prefix = `shop-${plan.stack}`;
            const hostname = (plan.outputs.hostnames as string[])[0];
            // A review stack's buckets are staging's review pool: nothing of its own to wait for.
            const storage = plan.stack === "pr-7" ? [] : [`cloudflare:index/r2Bucket:R2Bucket::${prefix}-storage-attachments`, `cloudflare:index/r2Bucket:R2Bucket::${prefix}-storage-backups`];
            const lock = plan.stack === "production" ? [`cloudflare:index/r2BucketLock:R2BucketLock::${prefix}-storage-backups-lock`] : [];
            assert.deepStrictEqual(plan.options.get(`${TYPE.command}::${prefix}-deploy-kamal`)!.dependsOn, [
                `cloudflare:index/dnsRecord:DnsRecord::${prefix}-edge-dns-${hostname}`,
                ...storage,
                ...lock,
                `cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig::${prefix}-edge-tunnel-config`,
                `command:local:Command::${prefix}-web-1-power-on`,
                `hcloud:index/server:Server::${prefix}-web-1`,
                `hcloud:index/volume:Volume::${prefix}-hosts-volume`,
            ]);
        }
    });

    it("keeps the destroy order: the server waits only for its clean shutdown step and the clean-ups it must outlive, the tunnel's and (review stacks) the emptiers", async () => {
        const review = await planFor("pr-7");
        assert.deepStrictEqual(review.options.get("hcloud:index/server:Server::shop-pr-7-web-1")!.dependsOn, [
            "command:local:Command::shop-pr-7-edge-tunnel-connections-cleanup",
            "command:local:Command::shop-pr-7-storage-backups-emptier",
            "command:local:Command::shop-pr-7-web-1-power-off",
        ]);
        assert.deepStrictEqual(staging.options.get("hcloud:index/server:Server::shop-staging-web-1")!.dependsOn, [
            "command:local:Command::shop-staging-edge-tunnel-connections-cleanup",
            "command:local:Command::shop-staging-web-1-power-off",
        ]);
        for (const plan of [staging, review]) {
            const components = [...plan.options].filter(([key]) => key.startsWith("rails-stack:"));
            for (const [key, options] of components) assert.deepStrictEqual(options.dependsOn, [], `${key} has no component-wide dependency`);
        }
    });
});
