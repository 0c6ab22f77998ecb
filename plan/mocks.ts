// Pulumi mocks shared by the offline plan and the tests. Every value is derived from the resource's
// type and name, so two runs produce identical bytes. Invokes the program does not declare here
// throw: a new data-source call must be added on purpose (each is a cloud round trip).
import { createHash } from "crypto";
import type * as pulumi from "@pulumi/pulumi";
import { ARM_LOCATIONS, ARM_SERVER_TYPES } from "../config/parse";
import { SERVER_TYPES_INVOKE, SERVERS_INVOKE, TUNNEL_TOKEN_INVOKE, TYPE } from "./resource-types";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, unknown>;
    readonly custom: boolean;
}

export interface RecordedInvoke {
    readonly token: string;
    readonly inputs: Record<string, unknown>;
}

const digest = (...parts: string[]): string => createHash("sha256").update(parts.join("\0")).digest("hex");

/** A stable number from a resource's digest: hcloud ids are numeric. */
const numericId = (hex: string): string => String(1_000_000 + (parseInt(hex.slice(0, 8), 16) % 9_000_000));

const uuid = (hex: string): string => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;

/** Placeholder secret values: recognizable, and asserted absent from plan.json by the tests. */
export const mockSecret = (kind: string, name: string): string => `MOCK-SECRET-${kind}-${digest(kind, name).slice(0, 12)}`;

function mockState(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
    const hex = digest(type, name);
    if (type.startsWith("hcloud:")) {
        const id = numericId(hex);
        const octet = (parseInt(hex.slice(8, 10), 16) % 250) + 1;
        const extra =
            type === TYPE.server
                ? { ipv4Address: `203.0.113.${octet}`, ipv6Address: `2001:db8:${hex.slice(10, 14)}::1`, status: "running" }
                : type === TYPE.volume
                  ? { linuxDevice: `/dev/disk/by-id/scsi-0HC_Volume_${id}` }
                  : {};
        return { id, state: { ...inputs, ...extra } };
    }
    switch (type) {
        case TYPE.tunnel:
            return { id: uuid(hex), state: { ...inputs, accountTag: inputs.accountId, tunType: "cfd_tunnel" } };
        case TYPE.tailnetKey:
            return { id: `k${hex.slice(0, 12)}CNTRL`, state: { ...inputs, key: mockSecret("tailscale-auth-key", name), invalid: false } };
        case TYPE.r2Bucket:
            return { id: String(inputs.name), state: inputs };
        default:
            return { id: `${name}-id`, state: inputs };
    }
}

function mockCall(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (token) {
        case TUNNEL_TOKEN_INVOKE:
            return { ...inputs, token: mockSecret("tunnel-token", String(inputs.tunnelId)) };
        // The offline plan is a new stack's: every ARM type orderable everywhere, no server yet.
        case SERVER_TYPES_INVOKE:
            return {
                serverTypes: ARM_SERVER_TYPES.map((name) => ({ name, architecture: "arm", locations: ARM_LOCATIONS.map((l) => ({ name: l, available: true })) })),
            };
        case SERVERS_INVOKE:
            return { ...inputs, servers: [] };
        default:
            throw new Error(`no mock for invoke ${token}: declare it in plan/mocks.ts if the program really needs it`);
    }
}

/** Mocks that record every resource and invoke into the given arrays. */
export function recordingMocks(resources: RecordedResource[], invokes: RecordedInvoke[]): pulumi.runtime.Mocks {
    return {
        newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
            resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false });
            return mockState(args.type, args.name, args.inputs);
        },
        call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
            invokes.push({ token: args.token, inputs: args.inputs });
            return mockCall(args.token, args.inputs);
        },
    };
}
