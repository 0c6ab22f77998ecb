// Edge: tunnel, ingress, proxied TYPE.dnsRecord and the ACME HTTP-01 layers (tunnel ingress, Workers routes).
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { Edge, TUNNEL_CLEANUP_COMMAND, tunnelCname } from "../components/edge";
import { loadConfig } from "../config/load";
import { parseConfig } from "../config/parse";
import type { Settings } from "../config/settings";
import { mockSecret, recordingMocks } from "../plan/mocks";
import { cleanTunnelConnections } from "../lib/tunnel-connections";
import { isSecretValue, stableJson, stackConfigFromFiles, useMockedStack } from "../plan/run";
import { createStack } from "../program";
import {
    ACME_CHALLENGE_PATH_REGEX,
    acmeWorkersRoutePattern,
    IngressRule,
    renderIngress,
    renderIngressYaml,
} from "../renderers/tunnel";
import { fakeJsonApi, OkPlan, planFor, plainInputs, ROOT, resourcesOfType } from "./support";
import { TYPE, TUNNEL_TOKEN_INVOKE } from "../plan/resource-types";


/**
 * Which rule cloudflared applies to a request, the way its ingress matching works
 * (cloudflared ingress/rule.go): rules in order; a rule's hostname matches exactly or, for
 * "*.zone", any subdomain; its path is a regexp searched anywhere in the path (unanchored).
 * JS RegExp stands in for Go's RE2: the rendered path uses only `^`, literals and `\.`, which
 * mean the same in both.
 */
function matchIngress(rules: readonly IngressRule[], hostname: string, path: string): IngressRule | undefined {
    const host = hostname.replace(/:\d+$/, "").toLowerCase();
    const hostMatches = (ruleHost: string) => ruleHost === host || (ruleHost.startsWith("*.") && host.endsWith(ruleHost.slice(1)));
    return rules.find((r) => (r.hostname === undefined || hostMatches(r.hostname)) && (r.path === undefined || new RegExp(r.path).test(path)));
}

function settingsOf(stack: string, overrides: Record<string, string> = {}): Settings {
    const parsed = parseConfig(stackConfigFromFiles(ROOT, stack, overrides), stack);
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    return parsed.settings;
}

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply((v) => (resolve(v), v)));

function ingressOf(plan: OkPlan): IngressRule[] {
    const [config] = resourcesOfType(plan, TYPE.tunnelConfig);
    return (plainInputs(config).config as { ingresses: IngressRule[] }).ingresses;
}

describe("edge: ingress renderer", () => {
    const acme = renderIngress(["shop.example.com"], "acme");

    it("the challenge path is an anchored regexp with escaped dots", () => {
        assert.strictEqual(ACME_CHALLENGE_PATH_REGEX, "^/\\.well-known/acme-challenge/");
        const re = new RegExp(acme[0].path!);
        assert.ok(re.test("/.well-known/acme-challenge/abc"));
        for (const miss of ["/x/.well-known/acme-challenge/abc", "/.well-known/acme-challengeX", "/", "/-well-known/acme-challenge/abc"]) {
            assert.ok(!re.test(miss), `${miss} must not match`);
        }
    });

    it("acme: challenge rule, then the app over TLS with SNI = hostname, then 404, per hostname in order", () => {
        assert.deepStrictEqual(renderIngress(["a.example.com", "b.example.com"], "acme"), [
            { hostname: "a.example.com", path: "^/\\.well-known/acme-challenge/", service: "http://127.0.0.1:80" },
            { hostname: "a.example.com", service: "https://127.0.0.1:443", originRequest: { originServerName: "a.example.com" } },
            { hostname: "b.example.com", path: "^/\\.well-known/acme-challenge/", service: "http://127.0.0.1:80" },
            { hostname: "b.example.com", service: "https://127.0.0.1:443", originRequest: { originServerName: "b.example.com" } },
            { service: "http_status:404" },
        ]);
    });

    it("tunnel: only the app over plain HTTP, then 404", () => {
        assert.deepStrictEqual(renderIngress(["a.example.com"], "tunnel"), [{ hostname: "a.example.com", service: "http://127.0.0.1:80" }, { service: "http_status:404" }]);
    });

    it("a request hits the rule cloudflared would pick", () => {
        assert.strictEqual(matchIngress(acme, "shop.example.com", "/.well-known/acme-challenge/tok3n"), acme[0]);
        assert.strictEqual(matchIngress(acme, "SHOP.example.com:443", "/.well-known/acme-challenge/tok3n"), acme[0]);
        assert.strictEqual(matchIngress(acme, "shop.example.com", "/x/.well-known/acme-challenge/tok3n"), acme[1]);
        assert.strictEqual(matchIngress(acme, "shop.example.com", "/orders/7"), acme[1]);
        assert.strictEqual(matchIngress(acme, "other.example.com", "/.well-known/acme-challenge/tok3n")?.service, "http_status:404");
        const tunnel = renderIngress(["shop.example.com"], "tunnel");
        assert.strictEqual(matchIngress(tunnel, "shop.example.com", "/.well-known/acme-challenge/tok3n")?.service, "http://127.0.0.1:80");
        assert.strictEqual(matchIngress(tunnel, "shop.example.com", "/orders/7")?.service, "http://127.0.0.1:80");
        assert.strictEqual(matchIngress(tunnel, "other.example.com", "/")?.service, "http_status:404");
    });

    it("every rule set ends in a catch-all without hostname or path (cloudflared rejects anything else)", () => {
        for (const rules of [acme, renderIngress(["a.example.com", "b.example.com"], "tunnel")]) {
            assert.deepStrictEqual(rules[rules.length - 1], { service: "http_status:404" });
            assert.ok(rules.slice(0, -1).every((r) => r.hostname), "only the last rule lacks a hostname");
        }
    });

    it("the YAML view parses back to exactly the rules, under cloudflared's `ingress` key", () => {
        assert.deepStrictEqual(YAML.parse(renderIngressYaml(acme)), { ingress: acme });
    });

    it("the Workers route patterns cover the challenge path", () => {
        assert.strictEqual(acmeWorkersRoutePattern("shop.example.com"), "shop.example.com/.well-known/acme-challenge/*");
    });
});

describe("edge: resources under mocks", () => {
    const plans: Record<string, OkPlan> = {};
    before(async () => {
        for (const stack of ["staging", "production", "pr-7"]) plans[stack] = await planFor(stack);
    });

    it("one remotely-managed tunnel per stack, named by the stack", () => {
        for (const stack of Object.keys(plans)) {
            const tunnels = resourcesOfType(plans[stack], TYPE.tunnel);
            assert.strictEqual(tunnels.length, 1);
            assert.deepStrictEqual(plainInputs(tunnels[0]), { accountId: "0123456789abcdef0123456789abcdef", name: `shop-${stack}`, configSrc: "cloudflare" });
        }
    });

    it("each hostname gets a proxied CNAME to <tunnel id>.cfargotunnel.com", () => {
        for (const stack of Object.keys(plans)) {
            const plan = plans[stack];
            const records = resourcesOfType(plan, TYPE.dnsRecord).map(plainInputs);
            assert.deepStrictEqual(
                records.map((r) => r.name),
                plan.outputs.hostnames,
            );
            for (const r of records) {
                assert.strictEqual(r.type, "CNAME");
                assert.strictEqual(r.proxied, true);
                assert.strictEqual(r.ttl, 1);
                assert.strictEqual(r.content, tunnelCname(String(plan.outputs.tunnelId)));
                assert.match(String(r.comment), new RegExp(`stack ${stack}\\b`));
            }
            assert.strictEqual(plainInputs(resourcesOfType(plan, TYPE.tunnelConfig)[0]).tunnelId, plan.outputs.tunnelId);
        }
        assert.strictEqual(plans["pr-7"].outputs.appUrl, "https://pr-7-shop-staging.example.com");
        assert.strictEqual(plans.production.outputs.appUrl, "https://shop.example.com");
    });

    it("the tunnel config receives the rendered ingress, and the artifact shows the same rules", () => {
        for (const stack of Object.keys(plans)) {
            const plan = plans[stack];
            assert.deepStrictEqual(ingressOf(plan), renderIngress(plan.outputs.hostnames as string[], "acme"));
            assert.deepStrictEqual(YAML.parse(plan.artifacts["edge/tunnel-ingress.yml"]), { ingress: ingressOf(plan) });
            assert.strictEqual(plainInputs(resourcesOfType(plan, TYPE.tunnelConfig)[0]).source, "cloudflare");
        }
    });

    it("creates no zone ruleset: the zone's SSL mode does not act on a tunnel, and a zone rule would reach every other origin", async () => {
        for (const plan of [...Object.values(plans), await planFor("staging", { tlsMode: "tunnel" })]) {
            assert.deepStrictEqual(resourcesOfType(plan, TYPE.ruleset), [], plan.stack);
        }
        await assert.rejects(planFor("production", { acmeRulesetOwner: "true" }), /acmeRulesetOwner: is no longer a setting/);
    });

    it("one script-less Workers route per hostname, on the challenge path", async () => {
        const hostnames = ["shop-staging.example.com", "admin-staging.example.com"];
        const plan = await planFor("staging", { hostnames: JSON.stringify(hostnames) });
        const routes = resourcesOfType(plan, TYPE.workersRoute).map(plainInputs);
        assert.deepStrictEqual(routes.map((r) => r.pattern).sort(), hostnames.map(acmeWorkersRoutePattern).sort());
        for (const r of routes) {
            assert.strictEqual(r.script, undefined);
            assert.strictEqual(r.zoneId, "fedcba9876543210fedcba9876543210");
        }
        assert.strictEqual(resourcesOfType(plan, TYPE.dnsRecord).length, 2);
        assert.strictEqual(ingressOf(plan).length, 5);
    });

    it("tunnel mode: no ACME layer at all, and the app rule targets http://127.0.0.1:80", async () => {
        for (const stack of ["staging", "production"]) {
            const plan = await planFor(stack, { tlsMode: "tunnel" });
            assert.strictEqual(resourcesOfType(plan, TYPE.workersRoute).length, 0, `${stack}: workers routes`);
            const ingress = ingressOf(plan);
            assert.ok(ingress.every((r) => r.path === undefined && r.originRequest === undefined), `${stack}: ACME ingress`);
            assert.deepStrictEqual(ingress[0], { hostname: (plan.outputs.hostnames as string[])[0], service: "http://127.0.0.1:80" });
            assert.strictEqual(resourcesOfType(plan, TYPE.dnsRecord).length, (plan.outputs.hostnames as string[]).length);
        }
    });

    it("makes exactly one invoke per preview: the tunnel token", () => {
        for (const plan of Object.values(plans)) {
            const edgeInvokes = plan.invokes.filter((i) => i.token.startsWith("cloudflare:"));
            assert.deepStrictEqual(edgeInvokes.map((i) => i.token), [TUNNEL_TOKEN_INVOKE]);
            assert.strictEqual(edgeInvokes[0].inputs.tunnelId, plan.outputs.tunnelId);
        }
    });

    it("the tunnel token never appears in plan.json", () => {
        for (const plan of Object.values(plans)) {
            const token = mockSecret("tunnel-token", String(plan.outputs.tunnelId));
            assert.strictEqual(plan.outputs.tunnelToken, token, "the mock token is the one exported");
            assert.ok(!stableJson(plan.entries).includes(token), `${plan.stack}: token in plan.json`);
        }
    });
});

describe("edge: secrecy and protection (component and program under mocks)", () => {
    /** Runs `build` in a mocked stack (for Outputs the plan does not expose: secrecy). */
    async function underMocks<T>(stack: string, build: () => T): Promise<{ result: T }> {
        await useMockedStack(stack, stackConfigFromFiles(ROOT, stack), recordingMocks([], []));
        let result: T | undefined;
        await pulumi.runtime.runInPulumiStack(async () => {
            result = build();
            return {};
        });
        return { result: result! };
    }

    it("tunnelToken is a secret Output; tunnelId, appUrl and the ingress view are not", async () => {
        const { result: edge } = await underMocks("production", () => new Edge("t", { settings: settingsOf("production"), apiToken: "cf-api-token" }));
        assert.strictEqual(await pulumi.isSecret(edge.tunnelToken), true);
        assert.strictEqual(await value(edge.tunnelToken), mockSecret("tunnel-token", await value(edge.tunnelId)));
        for (const plain of [edge.tunnelId, edge.appUrl, edge.ingressYaml]) assert.strictEqual(await pulumi.isSecret(plain), false);
    });

    it("every stack output or artifact that contains the token is secret", async () => {
        for (const stack of ["staging", "production", "pr-7"]) {
            const { result } = await underMocks(stack, () => createStack(loadConfig()));
            const token = mockSecret("tunnel-token", String(await value(result.outputs.tunnelId)));
            const all: [string, pulumi.Output<unknown>][] = [...Object.entries(result.outputs), ...Object.entries(result.artifacts)];
            for (const [key, output] of all) {
                if (JSON.stringify(await value(output)).includes(token)) {
                    assert.strictEqual(await pulumi.isSecret(output), true, `${stack}: ${key} holds the tunnel token but is not secret`);
                }
            }
            assert.strictEqual(await pulumi.isSecret(result.outputs.tunnelToken), true);
        }
    });

    it("production protects tunnel and DNS records; staging and review stacks protect nothing", async () => {
        const production = await planFor("production");
        for (const key of [`${TYPE.tunnel}::shop-production-edge-tunnel`, `${TYPE.dnsRecord}::shop-production-edge-dns-shop.example.com`]) {
            assert.strictEqual(production.options.get(key)?.protect, true, key);
        }
        for (const plan of [await planFor("staging"), await planFor("pr-7")]) {
            const edgeKeys = [...plan.options.keys()].filter((k) => k.includes("-edge"));
            assert.ok(edgeKeys.length >= 4, `${plan.stack}: edge resources recorded`);
            assert.deepStrictEqual(edgeKeys.filter((k) => plan.options.get(k)?.protect), [], `${plan.stack}: nothing protected`);
        }
    });
});

describe("edge: the tunnel's connections are cleaned up on destroy, after the host", () => {
    it("a delete-only Command with the tunnel and a secret API token; the server depends on it", async () => {
        for (const stack of ["staging", "production", "pr-7"]) {
            const plan = await planFor(stack);
            const [cleanup] = resourcesOfType(plan, TYPE.command).filter((c) => c.name.endsWith("-edge-tunnel-connections-cleanup"));
            assert.ok(cleanup, stack);
            const inputs = plainInputs(cleanup);
            assert.strictEqual(inputs.delete, TUNNEL_CLEANUP_COMMAND);
            assert.strictEqual(inputs.create, undefined);
            assert.ok(isSecretValue(cleanup.inputs.environment), `${stack}: the token makes the environment secret`);
            const env = inputs.environment as Record<string, string>;
            assert.strictEqual(env.CLOUDFLARE_TUNNEL_ID, plan.outputs.tunnelId);
            assert.strictEqual(env.CLOUDFLARE_API_TOKEN, "placeholder-cloudflareApiToken");
            const cleanupKey = `${TYPE.command}::${cleanup.name}`;
            assert.strictEqual(plan.options.get(cleanupKey)?.protect, stack === "production", `${stack}: protected like the tunnel`);
            for (const server of resourcesOfType(plan, TYPE.server)) assert.ok(plan.options.get(`${TYPE.server}::${server.name}`)?.dependsOn.includes(cleanupKey), `${stack}: ${server.name}`);
        }
        assert.ok(fs.existsSync(path.join(ROOT, TUNNEL_CLEANUP_COMMAND.split(" ")[2] + ".ts")), "the command's script exists at its relative path");
    });

    /** A fake Cloudflare API that answers every request with `status`. */
    const fakeApi = (status: number) => fakeJsonApi(() => [status, { success: status < 300, result: null }]);

    it("the script deletes all connections of the tunnel, tolerates a tunnel already gone, fails loudly otherwise, prints no token", async () => {
        const env = (url: string) => ({ CLOUDFLARE_BASE_URL: `${url}/client/v4`, CLOUDFLARE_ACCOUNT_ID: "acc", CLOUDFLARE_TUNNEL_ID: "t-1", CLOUDFLARE_API_TOKEN: "CF-SECRET" });
        const lines: string[] = [];
        for (const status of [200, 404]) {
            const api = await fakeApi(status);
            try {
                await cleanTunnelConnections(env(api.url), (l) => lines.push(l));
                assert.deepStrictEqual(api.requests, ["DELETE /client/v4/accounts/acc/cfd_tunnel/t-1/connections Bearer CF-SECRET"]);
            } finally {
                api.close();
            }
        }
        assert.deepStrictEqual(lines, ["removed the connections of tunnel t-1", "tunnel t-1 does not exist; no connections to clean up"]);
        const failing = await fakeApi(403);
        try {
            await assert.rejects(cleanTunnelConnections(env(failing.url), () => undefined), /tunnel t-1 failed: HTTP 403/);
        } finally {
            failing.close();
        }
        await assert.rejects(cleanTunnelConnections({ CLOUDFLARE_ACCOUNT_ID: "acc", CLOUDFLARE_TUNNEL_ID: "t-1" }, () => undefined), /CLOUDFLARE_API_TOKEN is not set/);
    });
});
