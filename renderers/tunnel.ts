// The edge's rules as plain data: the tunnel's ingress (and its cloudflared YAML view) and the
// Workers route patterns of the ACME HTTP-01 bypass.
import * as YAML from "yaml";
import type { TlsMode } from "../config/settings";
import { PROXY_BIND_IP } from "../lib/paths";

/** Where Let's Encrypt fetches HTTP-01 tokens (RFC 8555 §8.3). */
export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

/**
 * cloudflared compiles `path` as a Go (RE2) regexp and searches it anywhere in the path, so the
 * prefix is anchored and its dots escaped: "/.well-known/acme-challenge/" alone would also match
 * "/x/.well-known/acme-challenge/" and "/-well-known/...".
 */
export const ACME_CHALLENGE_PATH_REGEX = `^${ACME_CHALLENGE_PREFIX.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`;

/** kamal-proxy's plain-HTTP listener: ACME challenges, and the whole app in `tunnel` mode. */
export const ORIGIN_HTTP = `http://${PROXY_BIND_IP}:80`;
/** kamal-proxy's TLS listener with the Let's Encrypt certificate (`acme` mode). */
export const ORIGIN_HTTPS = `https://${PROXY_BIND_IP}:443`;
/** cloudflared's required last rule: anything no hostname rule claimed. */
export const CATCH_ALL_SERVICE = "http_status:404";

/**
 * One ingress rule, in the shape of `ZeroTrustTunnelCloudflaredConfig.config.ingresses[]` (which
 * is also cloudflared's own YAML key set: hostname, path, service, originRequest.originServerName).
 */
export interface IngressRule {
    readonly hostname?: string;
    readonly path?: string;
    readonly service: string;
    readonly originRequest?: { readonly originServerName: string };
}

/**
 * The tunnel's rules, first match wins. Per hostname in `acme` mode: the challenge path to :80 (so
 * kamal-proxy answers HTTP-01), then the app over TLS to :443 with SNI = the hostname (kamal-proxy
 * picks the certificate by SNI); in `tunnel` mode only the app over plain HTTP to :80. Last, 404.
 */
export function renderIngress(hostnames: readonly string[], tlsMode: TlsMode): IngressRule[] {
    const perHost = hostnames.flatMap((hostname): IngressRule[] =>
        tlsMode === "acme"
            ? [
                  { hostname, path: ACME_CHALLENGE_PATH_REGEX, service: ORIGIN_HTTP },
                  { hostname, service: ORIGIN_HTTPS, originRequest: { originServerName: hostname } },
              ]
            : [{ hostname, service: ORIGIN_HTTP }],
    );
    return [...perHost, { service: CATCH_ALL_SERVICE }];
}

/**
 * The same rules as the `ingress:` section of a cloudflared config file, for reviewers. The tunnel
 * is remotely managed, so no cloudflared reads this file: the resource gets `renderIngress` itself.
 */
export function renderIngressYaml(rules: readonly IngressRule[]): string {
    const doc = new YAML.Document({ ingress: rules });
    doc.commentBefore =
        " Ingress of the remotely-managed tunnel (configSrc: cloudflare), in cloudflared's config-file\n" +
        " syntax. A view for review only: cloudflared receives these rules from Cloudflare, not from a file.";
    return doc.toString();
}

/** A Workers route pattern (a glob, not a regexp) for the challenge path of one hostname. */
export function acmeWorkersRoutePattern(hostname: string): string {
    return `${hostname}${ACME_CHALLENGE_PREFIX}*`;
}
