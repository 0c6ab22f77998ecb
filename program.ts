// The whole stack as one function of the typed config, so `pulumi up` (index.ts), the offline plan
// and the tests all build the very same graph.
import * as pulumi from "@pulumi/pulumi";
import { Deploy } from "./components/deploy";
import { Edge } from "./components/edge";
import { Hosts } from "./components/hosts";
import { Providers } from "./components/providers";
import { Storage } from "./components/storage";
import type { StackConfig } from "./config/load";
import { hostName, stackPrefix } from "./lib/naming";

export interface StackResult {
    /** Stack outputs, exported by index.ts. */
    readonly outputs: Readonly<Record<string, pulumi.Output<unknown>>>;
    /**
     * Rendered files keyed by relative path: the exact inputs the resources receive. A record value
     * is a directory of files (the Kamal set).
     */
    readonly artifacts: Readonly<Record<string, pulumi.Output<string> | pulumi.Output<Readonly<Record<string, string>>>>>;
}

export function createStack({ settings, secrets, appVersion }: StackConfig): StackResult {
    const name = stackPrefix(settings);
    const providers = new Providers(`${name}-providers`, { settings, secrets });
    const outputs: Record<string, pulumi.Output<unknown>> = {
        stack: pulumi.output(settings.stack),
        railsEnv: pulumi.output(settings.railsEnv),
        hostnames: pulumi.output([...settings.hostnames]),
    };
    const artifacts: Record<string, pulumi.Output<string> | pulumi.Output<Readonly<Record<string, string>>>> = {};

    const edge = new Edge(`${name}-edge`, { settings, apiToken: secrets.cloudflareApiToken }, { ...providers.options });
    outputs.tunnelId = edge.tunnelId;
    outputs.tunnelToken = edge.tunnelToken;
    outputs.appUrl = edge.appUrl;
    artifacts["edge/tunnel-ingress.yml"] = edge.ingressYaml;

    const storage = new Storage(`${name}-storage`, { settings, backupsCredentials: secrets.r2.backups }, { ...providers.options });
    outputs.backupsBucket = storage.backupsBucket;
    outputs.attachmentsBucket = storage.attachmentsBucket;
    outputs.s3Endpoint = pulumi.output(storage.endpoint);
    artifacts["storage/litestream.yml"] = storage.litestreamConfig;
    artifacts["storage/active-storage.yml"] = storage.activeStorageConfig;

    const hosts = new Hosts(
        `${name}-hosts`,
        { settings, secrets, deleteAfterServer: [...storage.emptiers, ...edge.deleteAfterServer] },
        { ...providers.options },
    );
    outputs.host = hosts.host;
    outputs.volumeId = hosts.volumeId;
    outputs.volumeMountPath = pulumi.output(hosts.volumeMountPath);
    artifacts[`cloud-init/${hostName(settings)}.yaml`] = hosts.userData;

    const deploy = new Deploy(`${name}-deploy`, {
        settings,
        secrets,
        appVersion,
        tunnelToken: edge.tunnelToken,
        serverId: hosts.server.id,
        r2: secrets.r2,
        activeStorage: storage.activeStorage,
        litestreamConfig: storage.litestreamConfig,
        dependsOn: [...hosts.ready, ...edge.routing, ...storage.forApp],
    });
    outputs.deployedVersion = deploy.version;
    outputs.kamalDestination = deploy.kamalDestination;
    artifacts.kamal = deploy.files;

    return { outputs, artifacts };
}
