// What the delivery needs from the stack config: a host tag per environment (review stacks never
// staging's), Kamal's registry build cache with the real Kamal's own build command, and the
// warning when production shares staging's Cloudflare account or zone.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { sharedCloudflareWarning } from "../config/credential-layout";
import { parseConfig } from "../config/parse";
import { TYPE } from "../plan/resource-types";
import { KAMAL_FILES } from "../renderers/kamal";
import { stagingRaw } from "./staging-config";
import { kamalExecutable, OkPlan, plainInputs, planFor, resourcesOfType, ROOT } from "./support";

const tags = (stack: string, values: Record<string, string> = {}): string[] | string[][] => {
    const result = parseConfig(stagingRaw(values), stack);
    return result.ok ? [...result.settings.tailscale.tags] : [result.errors];
};

describe("tailnet host tags per environment", () => {
    it("derives one tag per stack kind", () => {
        assert.deepStrictEqual([tags("production"), tags("staging"), tags("pr-7")], [["tag:rails-production"], ["tag:rails-staging"], ["tag:rails-review"]]);
    });

    it("a review stack never carries staging's tailscaleTags, only reviewTailscaleTags, which staging sets for it", () => {
        const stagingFile = { tailscaleTags: '["tag:shop-staging"]', reviewTailscaleTags: '["tag:shop-review"]' };
        assert.deepStrictEqual([tags("staging", stagingFile), tags("pr-7", stagingFile), tags("pr-7", { tailscaleTags: '["tag:shop-staging"]' })], [
            ["tag:shop-staging"],
            ["tag:shop-review"],
            ["tag:rails-review"],
        ]);
    });

    it("names the key a bad review tag came from", () => {
        assert.deepStrictEqual(tags("pr-7", { reviewTailscaleTags: '["rails-review"]' }), [
            [`rails-stack:reviewTailscaleTags[0]: "rails-review" is not a Tailscale tag; allowed: 'tag:' then a letter, then letters, digits or '-', e.g. tag:rails-staging`],
        ]);
    });
});

describe("production sharing staging's Cloudflare account or zone", () => {
    const production = (values: Record<string, string>) => stagingRaw(values);
    it("is one warning line naming what is shared, and nothing when nothing is", () => {
        const other = { cloudflareAccountId: "1".repeat(32), cloudflareZoneId: "2".repeat(32) };
        assert.match(sharedCloudflareWarning(production({}), stagingRaw())!, /^production shares staging's Cloudflare account and zone \(rails-stack:cloudflareAccountId, rails-stack:cloudflareZoneId\): /);
        assert.match(sharedCloudflareWarning(production({ cloudflareZoneId: other.cloudflareZoneId }), stagingRaw())!, /^production shares staging's Cloudflare account \(rails-stack:cloudflareAccountId\): /);
        assert.strictEqual(sharedCloudflareWarning(production(other), stagingRaw()), undefined);
        assert.strictEqual(sharedCloudflareWarning(production({}), undefined), undefined);
    });

    it("the offline plan prints it for production, whose committed example shares both, and not for staging", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
        const plan = (stack: string) => spawnSync(process.execPath, [path.join(ROOT, "launch.js"), "plan/cli", "--stack", stack, "--out", path.join(out, stack)], { encoding: "utf8" });
        try {
            const prod = plan("production");
            assert.strictEqual(prod.status, 0, prod.stderr);
            assert.match(prod.stderr, /^warning: production shares staging's Cloudflare account and zone/);
            assert.strictEqual(prod.stderr.split("\n").filter(Boolean).length, 1);
            assert.strictEqual(plan("staging").stderr, "");
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });
});

describe("Kamal's registry build cache, built natively for arm64", function () {
    const plans = new Map<string, OkPlan>();
    before(async () => {
        for (const stack of ["staging", "pr-7", "production"]) plans.set(stack, await planFor(stack));
    });

    it("is on for staging (Pulumi.staging.yaml) and the review stacks that copy it, off for production", () => {
        const builder = (stack: string) => /\nbuilder:\n((?: {2}.*\n)+)/.exec(plans.get(stack)!.artifacts[`kamal/${KAMAL_FILES.base}`])![1];
        assert.strictEqual(builder("staging"), "  arch: arm64\n  cache:\n    type: registry\n    options: mode=max\n");
        assert.strictEqual(builder("pr-7"), builder("staging"));
        assert.strictEqual(builder("production"), "  arch: arm64\n");
    });

    it("the real Kamal builds with the registry cache beside the image, for linux/arm64 on its docker-container builder", function () {
        const kamal = kamalExecutable();
        if (!kamal) this.skip();
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kamal-build-"));
        try {
            const app = path.join(tmp, "app");
            fs.mkdirSync(app);
            spawnSync("git", ["init", "--quiet", app]);
            fs.writeFileSync(path.join(app, "Dockerfile"), "FROM scratch\n");
            const build = (stack: string): string => {
                const plan = plans.get(stack)!;
                const dir = path.join(tmp, stack);
                for (const [file, text] of Object.entries(plan.artifacts).filter(([f]) => f.startsWith("kamal/"))) {
                    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
                    fs.writeFileSync(path.join(dir, file), text);
                }
                const [command] = resourcesOfType(plan, TYPE.command).filter((c) => c.name.endsWith("-deploy-kamal"));
                const environment = plainInputs(command).environment as Record<string, string>;
                const secrets = Object.fromEntries(environment.RAILS_STACK_SECRET_NAMES.split(" ").map((n) => [n, environment[n]]));
                const run = spawnSync(kamal!, ["config", "-c", path.join(dir, "kamal", KAMAL_FILES.base), "-d", stack, "--version", "abc123"], {
                    cwd: app,
                    encoding: "utf8",
                    env: { PATH: process.env.PATH, HOME: tmp, RAILS_STACK_KAMAL_DIR: path.join(dir, "kamal"), RUBYOPT: `-r${path.join(ROOT, "test", "kamal-build-probe.rb")}`, ...secrets },
                });
                const line = `${run.stdout}${run.stderr}`.split("\n").find((l) => l.startsWith("KAMAL-BUILD "));
                assert.ok(line, `${run.stdout}${run.stderr}`);
                return line.slice("KAMAL-BUILD ".length);
            };
            const staging = build("staging");
            assert.match(staging, /--platform linux\/arm64 --builder kamal-local-docker-container /);
            assert.match(staging, / --cache-to type=registry,ref=ghcr\.io\/acme\/shop-build-cache,mode=max --cache-from type=registry,ref=ghcr\.io\/acme\/shop-build-cache /);
            assert.doesNotMatch(build("production"), /--cache/);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
});
