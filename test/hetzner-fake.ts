// A local stand-in for the Hetzner Cloud API calls of lib/hcloud-api.ts, faithful to what the
// client relies on, per docs.hetzner.cloud and hetznercloud/hcloud-go:
// - every endpoint needs `Authorization: Bearer <token>`; a missing, malformed or unknown token is
//   401 {"error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}}
//   (hcloud/error.go ErrorCodeUnauthorized, hcloud/error_test.go);
// - prices are decimal strings, net and gross (hcloud/schema/pricing.go), currency the project's;
// - /server_types filters by exact name and answers an empty list for an unknown one, each type
//   with its locations and `available` (hcloud/schema/server_type.go ServerTypeLocation);
// - /servers filters by label_selector, every comma-separated `key=value` required;
// - lists are paged: `page`, `per_page` (at most 50), meta.pagination.next_page (null on the last);
// - /servers?name= filters by exact name; /servers/{id} is the server or 404 not_found;
// - POST /servers/{id}/actions/shutdown only sends an ACPI request: the action is accepted (201)
//   whether or not the guest reacts ("the action status in this case only reflects whether the
//   action was sent to the server"), so only the server's status tells; poweron starts it. Status
//   changes take effect by the next read (stopping → off, starting → running);
// - any other path is 404 not_found.
import * as http from "http";
import type { AddressInfo } from "net";
import type { ApiPricing, ApiServer, ApiServerType } from "../lib/hcloud-api";

export interface FakeHetzner {
    /** The endpoint, as HCLOUD_ENDPOINT takes it: http://127.0.0.1:<port>/v1 */
    readonly endpoint: string;
    /** `<method> <path>` of every request that reached the API. */
    readonly requests: string[];
    readonly close: () => Promise<void>;
}

export interface FakeHetznerState {
    readonly token: string;
    pricing: ApiPricing;
    serverTypes: ApiServerType[];
    servers: FakeServer[];
}

/** A server of the fake project: the API's fields, its labels, and whether its guest reacts to ACPI. */
export type FakeServer = { -readonly [K in keyof ApiServer]: ApiServer[K] } & { labels: Record<string, string>; acpi?: boolean };

/** The server as the API shows it (labels included, the fake's own knob not). */
const shown = ({ acpi: _acpi, ...server }: FakeServer) => server;

const error = (code: string, message: string) => ({ error: { code, message, details: {} } });

export async function fakeHetzner(state: FakeHetznerState): Promise<FakeHetzner> {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://fake");
        requests.push(`${req.method} ${url.pathname}${url.search}`);
        const answer = (status: number, body: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(body));
        };
        if (req.headers.authorization !== `Bearer ${state.token}`) return answer(401, error("unauthorized", "unable to authenticate"));
        if (req.method === "GET" && url.pathname === "/v1/pricing") return answer(200, { pricing: state.pricing });
        const page = (key: string, items: unknown[]) => {
            const perPage = Number(url.searchParams.get("per_page") ?? 25);
            const number = Number(url.searchParams.get("page") ?? 1);
            if (!(perPage >= 1 && perPage <= 50) || !(number >= 1)) return answer(400, error("invalid_input", "invalid input in fields 'page', 'per_page'"));
            const last = Math.max(1, Math.ceil(items.length / perPage));
            return answer(200, {
                [key]: items.slice((number - 1) * perPage, number * perPage),
                meta: { pagination: { page: number, per_page: perPage, previous_page: number > 1 ? number - 1 : null, next_page: number < last ? number + 1 : null, last_page: last, total_entries: items.length } },
            });
        };
        if (req.method === "GET" && url.pathname === "/v1/server_types") {
            const name = url.searchParams.get("name");
            return page("server_types", name === null ? state.serverTypes : state.serverTypes.filter((t) => t.name === name));
        }
        if (req.method === "GET" && url.pathname === "/v1/servers") {
            const required = (url.searchParams.get("label_selector") ?? "").split(",").filter(Boolean).map((r) => r.split("="));
            const name = url.searchParams.get("name");
            return page("servers", state.servers.filter((s) => required.every(([k, v]) => s.labels[k] === v) && (name === null || s.name === name)).map(shown));
        }
        const one = /^\/v1\/servers\/(\d+)(?:\/actions\/(\w+))?$/.exec(url.pathname);
        const target = one && state.servers.find((s) => s.id === Number(one[1]));
        if (one && !target) return answer(404, error("not_found", "server not found"));
        if (target && req.method === "GET" && !one![2]) {
            if (target.status === "stopping") target.status = "off";
            else if (target.status === "starting") target.status = "running";
            return answer(200, { server: shown(target) });
        }
        if (target && req.method === "POST" && one![2] === "shutdown") {
            if (target.acpi !== false && target.status === "running") target.status = "stopping";
            return answer(201, { action: { command: "shutdown_server", status: "running" } });
        }
        if (target && req.method === "POST" && one![2] === "poweron") {
            if (target.status === "off") target.status = "starting";
            return answer(201, { action: { command: "start_server", status: "running" } });
        }
        return answer(404, error("not_found", "not found"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        endpoint: `http://127.0.0.1:${port}/v1`,
        requests,
        close: () => new Promise((resolve) => server.close(() => resolve())),
    };
}

/** A price the way the API writes it: net and gross (19% VAT) as decimal strings. */
const money = (net: number) => ({ net: net.toFixed(10), gross: (net * 1.19).toFixed(16) });
const at = (location: string, monthly: number, hourly: number) => ({ location, price_monthly: money(monthly), price_hourly: money(hourly) });

/** A /pricing answer with the given monthly server prices in fsn1, nbg1 and hel1. */
export function pricingAnswer(servers: Readonly<Record<string, number>>, ipv4 = 0.5, volume = 0.0572): ApiPricing {
    const locations = ["fsn1", "nbg1", "hel1"];
    return {
        currency: "EUR",
        vat_rate: "19.000000",
        primary_ips: [
            { type: "ipv4", prices: locations.map((l) => at(l, ipv4, 0.0008)) },
            { type: "ipv6", prices: locations.map((l) => at(l, 0, 0)) },
        ],
        server_types: Object.entries(servers).map(([name, monthly], i) => ({ id: 45 + i, name, prices: locations.map((l) => at(l, monthly, Math.round((monthly / 624) * 1e4) / 1e4)) })),
        volume: { price_per_gb_month: money(volume) },
    };
}

/** A running server with a public IPv4 as /servers lists it, with the labels the stack's servers carry. */
export function serverAnswer(name: string, serverType: string, location: string, labels: Record<string, string>, id = 42): FakeServer {
    return { id, name, status: "running", server_type: { name: serverType }, location: { name: location }, public_net: { ipv4: { ip: "203.0.113.7" } }, labels };
}

/** A server type as /server_types lists it, available where `available` says. */
export function serverTypeAnswer(name: string, available: Readonly<Record<string, boolean>>): ApiServerType {
    return { name, architecture: "arm", locations: Object.entries(available).map(([location, isAvailable]) => ({ name: location, available: isAvailable })) };
}
