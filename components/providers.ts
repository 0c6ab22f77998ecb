import * as cloudflare from "@pulumi/cloudflare";
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as tailscale from "@pulumi/tailscale";
import type { Secrets } from "../config/load";
import type { Settings } from "../config/settings";

export interface ProvidersArgs {
    readonly settings: Pick<Settings, "tailscale">;
    readonly secrets: Secrets;
}

/**
 * Explicit providers built from the stack's own secrets, so a stack never picks up ambient
 * credentials (HCLOUD_TOKEN, CLOUDFLARE_API_TOKEN, ...) meant for another environment.
 */
export class Providers extends pulumi.ComponentResource {
    readonly hcloud: hcloud.Provider;
    readonly cloudflare: cloudflare.Provider;
    readonly tailscale: tailscale.Provider;

    constructor(name: string, args: ProvidersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("rails-stack:index:Providers", name, {}, opts);
        const { secrets } = args;
        this.hcloud = new hcloud.Provider(`${name}-hcloud`, { token: secrets.hcloudToken }, { parent: this });
        this.cloudflare = new cloudflare.Provider(`${name}-cloudflare`, { apiToken: secrets.cloudflareApiToken }, { parent: this });
        this.tailscale = new tailscale.Provider(
            `${name}-tailscale`,
            {
                tailnet: args.settings.tailscale.tailnet,
                ...(secrets.tailscaleApiKey
                    ? { apiKey: secrets.tailscaleApiKey }
                    : { oauthClientId: secrets.tailscaleOauth?.clientId, oauthClientSecret: secrets.tailscaleOauth?.clientSecret }),
            },
            { parent: this },
        );
        this.registerOutputs({});
    }

    /** Resource options that hand these providers to a component's children. */
    get options(): pulumi.ComponentResourceOptions {
        return { providers: { hcloud: this.hcloud, cloudflare: this.cloudflare, tailscale: this.tailscale } };
    }
}
