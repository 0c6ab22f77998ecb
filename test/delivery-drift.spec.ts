// Drift detection: drift.yml's jobs, their real steps from a fresh clone, against the pulumi and
// gh stand-ins: one issue per stack, opened, updated, closed; the Commands left out of the verdict.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { commitStagingSecrets, Delivery, deployedStack, ENVIRONMENTS } from "./delivery-support";
import { urnGlob } from "./stand-ins/pulumi";
import { haveTool, ROOT } from "./support";

interface PlanEntry {
    type: string;
    name: string;
    parent: string | null;
}

/** The URNs a real stack of the golden plan has: `urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>`. */
function urns(stack: string): Map<string, PlanEntry> {
    const plan = JSON.parse(fs.readFileSync(path.join(ROOT, "test", "golden", stack, "plan.json"), "utf8")) as PlanEntry[];
    const byName = new Map(plan.map((r) => [r.name, r]));
    const chain = (r: PlanEntry): string => (r.parent && byName.has(r.parent) ? `${chain(byName.get(r.parent)!)}$${r.type}` : r.type);
    return new Map(plan.map((r) => [`urn:pulumi:${stack}::rails-stack::${chain(r)}::${r.name}`, r]));
}

const EXCLUDE = /--exclude '([^']+)'/.exec(fs.readFileSync(path.join(ROOT, ".github", "scripts", "drift.sh"), "utf8"))![1];
const STAGING = urns("staging");
const urnOf = (name: string): string => [...STAGING].find(([, r]) => r.name === name)![0];
const SERVER = urnOf("shop-staging-web-1");
const VOLUME = urnOf("shop-staging-hosts-volume");
const DEPLOY = urnOf("shop-staging-deploy-kamal");
const CLEANUP = urnOf("shop-staging-web-1-tailnet-cleanup");

describe("drift: a nightly preview --refresh per stack, one issue per stack", function () {
    before(function () {
        if (!haveTool("jq") || !haveTool("git")) this.skip();
    });
    let d: Delivery | undefined;
    afterEach(() => d?.dispose());
    const schedule = { github: { event_name: "schedule" } };
    const drift = (changes: string[]) => changes.map((urn) => ({ urn, op: "update" }));
    const setDrift = (stack: string, changes: string[]): void => {
        const service = d!.service;
        service.stacks[stack].drift = drift(changes);
        d!.service = service;
    };
    const issues = () => d!.github.issues;

    it("the verdict leaves out exactly the plan's Commands (the deploy and the delete-time clean-ups), with Pulumi's glob rules", () => {
        const glob = urnGlob(EXCLUDE);
        const excluded = [...STAGING].filter(([urn]) => glob.test(urn)).map(([, r]) => r.name).sort();
        assert.deepStrictEqual(excluded, [...STAGING.values()].filter((r) => r.type === "command:local:Command").map((r) => r.name).sort());
        assert.ok(excluded.length >= 3, excluded.join(", "));
    });

    it("opens one issue for a stack that drifted, updates it while it drifts, closes it when clean again", () => {
        d = commitStagingSecrets(new Delivery({ org: "acme", stacks: { staging: deployedStack(), production: deployedStack() } }));
        setDrift("staging", [SERVER, DEPLOY]);
        const first = d.run("drift.yml", "staging", schedule);
        assert.strictEqual(first.status, 0, first.output);
        assert.match(first.output, /::warning title=Drift on staging::/);
        assert.deepStrictEqual(d.github.labels, ["drift"]);
        assert.strictEqual(issues().length, 1);
        const [issue] = issues();
        assert.deepStrictEqual([issue.title, issue.state, issue.labels], ["Drift: staging", "OPEN", ["drift"]]);
        assert.ok(issue.body.includes(SERVER), issue.body);
        assert.ok(!issue.body.includes(DEPLOY), "the deploy Command is not drift");
        assert.match(issue.body, /https:\/\/github\.com\/acme\/rails-stack\/actions\/runs\/4242/);
        assert.ok(d.pulumiCalls().includes(`pulumi preview --stack staging --refresh --expect-no-changes --diff --non-interactive --exclude ${EXCLUDE} --policy-pack policy`));

        setDrift("staging", [SERVER, VOLUME, CLEANUP]);
        const second = d.run("drift.yml", "staging", schedule);
        assert.strictEqual(second.status, 0, second.output);
        assert.strictEqual(issues().length, 1, "one issue per stack");
        assert.ok(issues()[0].body.includes(VOLUME));
        assert.ok(!issues()[0].body.includes(CLEANUP));

        setDrift("staging", [DEPLOY, CLEANUP]);
        const clean = d.run("drift.yml", "staging", schedule);
        assert.strictEqual(clean.status, 0, clean.output);
        assert.strictEqual(issues()[0].state, "CLOSED");
        assert.match(issues()[0].comments.join("\n"), /^Clean again: https:\/\/github\.com\/acme\/rails-stack\/actions\/runs\/4242$/);

        const quiet = d.run("drift.yml", "staging", schedule);
        assert.strictEqual(quiet.status, 0, quiet.output);
        assert.strictEqual(issues().length, 1, "a clean stack without an open issue opens none");
    });

    it("production's check holds the read-only credential and keeps its own issue", () => {
        d = commitStagingSecrets(new Delivery({ org: "acme", stacks: { staging: deployedStack(), production: deployedStack() } }));
        setDrift("production", [urnOf("shop-staging-web-1").replace(/staging/g, "production")]);
        setDrift("staging", [SERVER]);
        assert.strictEqual(d.run("drift.yml", "staging", schedule).status, 0);
        const production = d.run("drift.yml", "production", schedule);
        assert.strictEqual(production.status, 0, production.output);
        assert.deepStrictEqual(issues().map((i) => i.title).sort(), ["Drift: production", "Drift: staging"]);
        // Without production-read's credential the check cannot run at all: the update credential is never a fallback.
        const noRead = d.run("drift.yml", "production", schedule, { environments: { ...ENVIRONMENTS, "production-read": {} } });
        assert.notStrictEqual(noRead.status, 0);
        assert.match(noRead.output, /PULUMI_ACCESS_TOKEN must be set for login/);
    });

    it("a preview that cannot run fails the job and leaves the issue as it is", () => {
        d = new Delivery({ org: "acme", stacks: { staging: deployedStack(), production: deployedStack() } });
        // Staging's file without its committed secrets: the CLI refuses it before anything runs.
        setDrift("staging", [SERVER]);
        const broken = d.run("drift.yml", "staging", schedule);
        assert.notStrictEqual(broken.status, 0);
        assert.match(broken.output, /validating stack config: Stack 'staging' is missing configuration values 'cloudflareApiToken', 'hcloudToken', 'railsMasterKey' and 'registryPassword'/);
        assert.match(broken.output, /::error title=Drift check of staging did not run::pulumi preview exited 1/);
        assert.deepStrictEqual(issues(), [], "no verdict, no issue");
    });
});
