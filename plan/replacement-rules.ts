// What a change to each input does to its resource, as the providers implement it: replace it
// (a new resource, the old one deleted), power the server off to apply it, or update it in place.
// plan/compare.ts reads these against plan.json; a type or input not listed updates in place.
import { TYPE } from "./resource-types";

export type Effect = "replace" | "poweroff" | "update";

export interface TypeRules {
    /** Where the rules were read. */
    readonly source: string;
    readonly inputs: Readonly<Record<string, Effect>>;
    /** Inputs not listed. */
    readonly otherwise: Effect;
}

export const RULES: Readonly<Record<string, TypeRules>> = {
    [TYPE.server]: {
        source:
            "hetznercloud/terraform-provider-hcloud internal/server/resource.go (f81c9af4): image, location, datacenter, user_data and ssh_keys are ForceNew; " +
            "a server_type change runs Poweroff then ChangeType (UpgradeDisk unless keep_disk); a public_net change runs updatePublicNet, which powers the server off first",
        inputs: { image: "replace", location: "replace", datacenter: "replace", userData: "replace", sshKeys: "replace", serverType: "poweroff", publicNets: "poweroff" },
        otherwise: "update",
    },
    [TYPE.volume]: {
        source: "internal/volume/resource.go: location is ForceNew; server_id detaches and attaches, size resizes, in place",
        inputs: { location: "replace" },
        otherwise: "update",
    },
    [TYPE.volumeAttachment]: {
        source: "internal/volume/resource_attachment.go: volume_id and server_id are ForceNew",
        inputs: { serverId: "replace", volumeId: "replace" },
        otherwise: "update",
    },
    [TYPE.sshKey]: {
        source: "internal/sshkey/resource.go: public_key RequiresReplace",
        inputs: { publicKey: "replace" },
        otherwise: "update",
    },
    [TYPE.tailnetKey]: {
        source: "tailscale/terraform-provider-tailscale tailscale/resource_tailnet_key.go: every argument ForceNew, no update function",
        inputs: {},
        otherwise: "replace",
    },
    [TYPE.command]: {
        source: "@pulumi/command local/command.js: replaceOnChanges triggers[*]",
        inputs: { triggers: "replace" },
        otherwise: "update",
    },
};

export const effectOf = (type: string, input: string): Effect => {
    const rules = RULES[type];
    return rules ? (rules.inputs[input] ?? rules.otherwise) : "update";
};
