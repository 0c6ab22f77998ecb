// Capacity before ordering: at preview and up, before the server is created, moved or rescaled,
// Hetzner must report its type orderable in the stack's location now; otherwise the run stops with
// one line naming the key to change and where the type can be ordered. CAX types have at times
// been unorderable in every location (kube-hetzner#2214; `resource_unavailable` on CAX orders in
// fsn1, nbg1 and hel1), and a failed order after the rest of the stack exists wastes a run.
//
// Two data sources, read in parallel (one round trip): the server types' per-location
// availability (hcloud getServerTypes: locations[].available, "whether the Server Type is
// temporarily unavailable in this Location", terraform-provider-hcloud internal/servertype; the
// datacenters' availableServerTypeIds it replaces is dropped after 2026-10-01), and the stack's
// existing server (hcloud getServers by the stack's labels). The second keeps a stock-out from
// blocking a stack whose server already exists and is not re-ordered: its deploys go on.
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import { ARM_LOCATIONS } from "../config/parse";
import type { Settings } from "../config/settings";
import { hetznerLabels, hostName } from "../lib/naming";
import { fetchServers, fetchServerTypes, hetznerEndpoint } from "../lib/hcloud-api";

export interface TypeAvailability {
    readonly name: string;
    readonly locations: readonly { readonly name: string; readonly available: boolean }[];
}

export interface ExistingServer {
    readonly name: string;
    readonly serverType: string;
    readonly location: string;
}

export interface Wanted {
    readonly hostname: string;
    readonly serverType: string;
    readonly location: string;
}

/** What this run orders from Hetzner for the host: nothing, a new server, or a new type for it. */
export type Order = "none" | "new server" | "new location" | "rescale";

export type CapacityVerdict =
    | { readonly ok: true; readonly order: Order; readonly warning?: string }
    | { readonly ok: false; readonly order: Order; readonly message: string };

const list = (names: readonly string[]): string => names.join(", ");

/** Whether the run may order what it wants, as one line naming the key when it may not. */
export function capacityVerdict(wanted: Wanted, types: readonly TypeAvailability[], servers: readonly ExistingServer[]): CapacityVerdict {
    const existing = servers.find((s) => s.name === wanted.hostname);
    const order: Order = !existing ? "new server" : existing.location !== wanted.location ? "new location" : existing.serverType !== wanted.serverType ? "rescale" : "none";
    const orderable = (type: TypeAvailability | undefined) =>
        ARM_LOCATIONS.filter((l) => type?.locations.some((loc) => loc.name === l && loc.available));
    const type = types.find((t) => t.name === wanted.serverType);
    const where = orderable(type);
    if (where.includes(wanted.location as (typeof ARM_LOCATIONS)[number])) return { ok: true, order };

    const what = `${wanted.serverType} cannot be ordered in ${wanted.location} now (Hetzner reports it unavailable there)`;
    if (order === "none") {
        const elsewhere = where.length > 0 ? `it can in ${list(where)}` : "nor in any other location";
        return { ok: true, order, warning: `${what}: ${wanted.hostname} exists and is kept, but replacing it would fail until it can; ${elsewhere}` };
    }
    const action = order === "rescale" ? `this run rescales ${wanted.hostname} to ${wanted.serverType}` : `this run orders a new server for ${wanted.hostname}`;
    if (where.length > 0) {
        return { ok: false, order, message: `rails-stack:location: ${action}, but ${what}; it can in ${list(where)}: set location to one of them, or choose another webServerType` };
    }
    const others = types.filter((t) => t.name !== wanted.serverType && /^cax\d+$/.test(t.name) && orderable(t).includes(wanted.location as (typeof ARM_LOCATIONS)[number]));
    const instead = others.length > 0 ? `; in ${wanted.location} these can: ${list(others.map((t) => t.name).sort())}` : `; no ARM64 type can be ordered in ${wanted.location} either`;
    return {
        ok: false,
        order,
        message: `rails-stack:webServerType: ${action}, but ${wanted.serverType} cannot be ordered in ${list(ARM_LOCATIONS)} now (Hetzner reports it unavailable in each)${instead}; choose another webServerType, or retry when Hetzner has capacity again`,
    };
}

type CapacitySettings = Pick<Settings, "project" | "app" | "stack" | "hetzner">;

/** The stack's Hetzner labels as a label selector: its server, whatever the run will do to it. */
export const stackSelector = (settings: CapacitySettings): string =>
    Object.entries(hetznerLabels(settings))
        .map(([k, v]) => `${k}=${v}`)
        .sort()
        .join(",");

const wantedOf = (settings: CapacitySettings): Wanted => ({ hostname: hostName(settings), serverType: settings.hetzner.serverType, location: settings.hetzner.location });

/**
 * The server type as the server's input, resolved only once the check passed: the server waits
 * for it, and a run that would order what Hetzner cannot deliver stops before the order.
 */
export function orderableServerType(settings: CapacitySettings, opts: pulumi.InvokeOutputOptions): pulumi.Output<string> {
    const wanted = wantedOf(settings);
    return pulumi.all([hcloud.getServerTypesOutput(opts), hcloud.getServersOutput({ withSelector: stackSelector(settings) }, opts)]).apply(([types, servers]) => {
        const verdict = capacityVerdict(wanted, types.serverTypes, servers.servers);
        // RunError: the CLI prints the line without a stack trace (the runtime's uncaught-error handler).
        if (!verdict.ok) throw new pulumi.RunError(verdict.message);
        if (verdict.warning) pulumi.log.warn(`rails-stack:webServerType: ${verdict.warning}`);
        return wanted.serverType;
    });
}

/** The same check on demand, through Hetzner's API with the stack's token (npm run capacity, the doctor). */
export async function checkCapacity(settings: CapacitySettings, token: string, endpoint = hetznerEndpoint()): Promise<CapacityVerdict> {
    const [types, servers] = await Promise.all([fetchServerTypes(token, endpoint), fetchServers(stackSelector(settings), token, endpoint)]);
    return capacityVerdict(
        wantedOf(settings),
        types,
        servers.map((s) => ({ name: s.name, serverType: s.server_type.name, location: s.location.name })),
    );
}
