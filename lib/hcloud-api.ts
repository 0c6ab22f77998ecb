// A small typed client for the few Hetzner Cloud API calls the program makes outside the provider:
// the reads of the cost and capacity checks (GET /pricing, /server_types, /servers) and the host's
// power steps (a server by name or id, its shutdown and poweron actions). Hetzner publishes no Node
// client (its official ones are Go and Python). Shapes and errors as hetznercloud/hcloud-go defines
// them (hcloud/schema/pricing.go, server_type.go, server.go, meta.go, error.go) and
// docs.hetzner.cloud documents them ("Errors": a JSON body {"error": {"code", "message",
// "details"}}; a missing, malformed or revoked token is 401 with code "unauthorized").

/** Hetzner's API, or HCLOUD_ENDPOINT as the hcloud provider reads it (terraform-provider-hcloud hcloud/provider.go). */
export const hetznerEndpoint = (env: NodeJS.ProcessEnv = process.env): string => env.HCLOUD_ENDPOINT || "https://api.hetzner.cloud/v1";

const TIMEOUT_MS = 10_000;

/** A price as the API gives it: decimal strings. */
interface ApiPrice {
    readonly net: string;
    readonly gross: string;
}

export interface ApiLocationPrice {
    readonly location: string;
    readonly price_hourly: ApiPrice;
    readonly price_monthly: ApiPrice;
}

export interface ApiPricing {
    readonly currency: string;
    readonly vat_rate: string;
    readonly primary_ips: readonly { readonly type: string; readonly prices: readonly ApiLocationPrice[] }[];
    readonly server_types: readonly { readonly id: number; readonly name: string; readonly prices: readonly ApiLocationPrice[] }[];
    readonly volume: { readonly price_per_gb_month: ApiPrice };
}

export interface ApiServerTypeLocation {
    readonly name: string;
    /** False while the type is temporarily not orderable there. */
    readonly available: boolean;
}

export interface ApiServerType {
    readonly name: string;
    readonly architecture: string;
    readonly locations: readonly ApiServerTypeLocation[];
}

export type ServerStatus = "running" | "initializing" | "starting" | "stopping" | "off" | "deleting" | "migrating" | "rebuilding" | "unknown";

/** A server as /servers lists it (the fields the capacity check and the power steps read; hcloud/schema/server.go). */
export interface ApiServer {
    readonly id: number;
    readonly name: string;
    readonly status: ServerStatus;
    readonly server_type: { readonly name: string };
    readonly location: { readonly name: string };
    readonly public_net: { readonly ipv4: { readonly ip: string } | null };
}

/** An API answer other than 2xx, or no answer; the message is one line, without the token. */
export class HetznerApiError extends Error {
    constructor(
        message: string,
        readonly status: number | null,
    ) {
        super(message);
    }
}

async function call<T>(method: "GET" | "POST", path: string, token: string, endpoint: string): Promise<T> {
    // Node's fetch, like hcloud-go (httpguts.ValidHeaderFieldValue), refuses such a header; say why.
    if (token === "" || /[\u0000-\u001f\u007f]/.test(token)) {
        throw new HetznerApiError("hcloudToken is empty or contains characters an HTTP header cannot carry", null);
    }
    let response: Response;
    try {
        response = await fetch(`${endpoint}${path}`, {
            method,
            headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
            signal: AbortSignal.timeout(TIMEOUT_MS),
        });
    } catch (err) {
        throw new HetznerApiError(`Hetzner's API at ${endpoint} did not answer ${method} ${path}: ${(err as Error).message}`, null);
    }
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    if (response.status === 401) {
        throw new HetznerApiError(`hcloudToken was refused by Hetzner's API (401 ${body?.error?.code ?? "unauthorized"}: ${body?.error?.message ?? "unable to authenticate"})`, 401);
    }
    if (!response.ok || body === undefined) {
        const detail = body?.error ? `${body.error.code}: ${body.error.message}` : "no JSON body";
        throw new HetznerApiError(`Hetzner's API answered ${method} ${path} with ${response.status} (${detail})`, response.status);
    }
    return body as T;
}

const get = <T>(path: string, token: string, endpoint: string): Promise<T> => call<T>("GET", path, token, endpoint);

export async function fetchPricing(token: string, endpoint = hetznerEndpoint()): Promise<ApiPricing> {
    return (await get<{ pricing: ApiPricing }>("/pricing", token, endpoint)).pricing;
}

/** Every page of a list endpoint (meta.pagination.next_page, hcloud/schema/meta.go). */
async function all<T>(path: string, key: string, token: string, endpoint: string): Promise<T[]> {
    const items: T[] = [];
    for (let page: number | null = 1; page !== null; ) {
        const separator: string = path.includes("?") ? "&" : "?";
        const answer: Record<string, unknown> & { meta?: { pagination?: { next_page: number | null } } } = await get(`${path}${separator}page=${page}&per_page=50`, token, endpoint);
        items.push(...((answer[key] as T[]) ?? []));
        page = answer.meta?.pagination?.next_page ?? null;
    }
    return items;
}

export const fetchServerTypes = (token: string, endpoint = hetznerEndpoint()): Promise<ApiServerType[]> => all("/server_types", "server_types", token, endpoint);

/** The project's servers carrying every `key=value` of the selector (Hetzner's label_selector). */
export const fetchServers = (labelSelector: string, token: string, endpoint = hetznerEndpoint()): Promise<ApiServer[]> =>
    all(`/servers?label_selector=${encodeURIComponent(labelSelector)}`, "servers", token, endpoint);

/** The server type by name, or undefined when Hetzner has no such type. */
export async function fetchServerType(name: string, token: string, endpoint = hetznerEndpoint()): Promise<ApiServerType | undefined> {
    const answer = await get<{ server_types: ApiServerType[] }>(`/server_types?name=${encodeURIComponent(name)}`, token, endpoint);
    return answer.server_types.find((t) => t.name === name);
}

/** The project's server of that name, or undefined. */
export async function fetchServerByName(name: string, token: string, endpoint = hetznerEndpoint()): Promise<ApiServer | undefined> {
    return (await get<{ servers: ApiServer[] }>(`/servers?name=${encodeURIComponent(name)}`, token, endpoint)).servers.find((s) => s.name === name);
}

export async function fetchServer(id: number, token: string, endpoint = hetznerEndpoint()): Promise<ApiServer> {
    return (await get<{ server: ApiServer }>(`/servers/${id}`, token, endpoint)).server;
}

/** Sends a power action. Hetzner answers once it is accepted, not once the server reached the state. */
export async function serverAction(id: number, action: "shutdown" | "poweron", token: string, endpoint = hetznerEndpoint()): Promise<void> {
    await call("POST", `/servers/${id}/actions/${action}`, token, endpoint);
}
