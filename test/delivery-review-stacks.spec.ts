// Review stacks that really go away: the review-stack and sweep jobs' own steps, from a fresh clone
// of this repository (no Pulumi.pr-<n>.yaml), against the pulumi and gh stand-ins. Each scenario
// runs with the Pulumi CLI the repository pins and with 3.248.0, the last release whose destroy
// validated the stack's config every time (pulumi/pulumi#23691).
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { addConfig, commitStagingSecrets, Delivery, deployedStack, ENVIRONMENTS, pullRequestEvent, secure } from "./delivery-support";
import { haveTool, ROOT } from "./support";
import type { StandInService } from "./stand-ins/pulumi";

const PINNED = fs.readFileSync(path.join(ROOT, ".github", "pulumi-version"), "utf8").trim();

const deployed = deployedStack;
const service = (stacks: StandInService["stacks"] = {}): StandInService => ({ org: "acme", upResources: 28, stacks: { staging: deployed(26), production: deployed(26), ...stacks } });
const delivery = (cli: string, state: StandInService, repo: ConstructorParameters<typeof Delivery>[1] = {}): Delivery => commitStagingSecrets(new Delivery(state, repo), cli);

/** Pulumi.yaml requires a key the review stacks never had, and staging's file sets it. */
function stagingMovesOn(d: Delivery): void {
    d.snapshot.change("a new required key", (dir) => {
        fs.appendFileSync(path.join(dir, "Pulumi.yaml"), "  cdnHost:\n    type: string\n    description: A key added after the review stack was created.\n");
        addConfig(path.join(dir, "Pulumi.staging.yaml"), { "rails-stack:cdnHost": "cdn.example.com" });
    });
}

const callsFor = (d: Delivery, stack: string): string[] => d.pulumiCalls().filter((c) => new RegExp(`(--stack|--dest|select|init|rm) ${stack}( |$)`).test(c));

// The release that validated config on every destroy matters to the close job only; the rest does
// not depend on it.
for (const cli of [PINNED, "3.248.0"]) {
    const pinnedOnly = (title: string, test: () => void): void => void (cli === PINNED && it(title, test));
    describe(`review stacks from a fresh clone, Pulumi CLI ${cli}`, function () {
        before(function () {
            if (!haveTool("jq") || !haveTool("git")) this.skip();
        });
        let d: Delivery | undefined;
        afterEach(() => d?.dispose());

        it("a pull request's stack is created from staging's config, then destroyed and removed when it closes, after staging's config moved on", () => {
            d = delivery(cli, service());
            const up = d.run("review-stack.yml", "up", pullRequestEvent(7, "opened"));
            assert.strictEqual(up.status, 0, up.output);
            assert.deepStrictEqual(callsFor(d, "pr-7"), [
                "pulumi stack select pr-7",
                "pulumi stack init pr-7 --copy-config-from staging",
                "pulumi config cp --stack staging --dest pr-7",
                "pulumi up --stack pr-7 --non-interactive --policy-pack policy --yes --skip-preview",
            ]);
            assert.strictEqual(d.stack("pr-7")?.resources, 28);
            assert.deepStrictEqual(d.stack("pr-7")?.updates.at(-1)?.config["rails-stack:hcloudToken"], secure("hcloud-token"));
            assert.deepStrictEqual(
                up.actions.filter((a) => a.uses.startsWith("tailscale/")).map((a) => a.with.tags),
                ["tag:ci-review"],
            );

            stagingMovesOn(d);
            const tracked = execFileSync("git", ["ls-files"], { cwd: d.snapshot.dir, encoding: "utf8" });
            assert.doesNotMatch(tracked, /Pulumi\.pr-/, "no review stack file is ever committed");
            const before = d.pulumiCalls().length;
            const close = d.run("review-stack.yml", "destroy", pullRequestEvent(7, "closed"));
            assert.strictEqual(close.status, 0, close.output);
            assert.match(close.output, /destroy-review-stack: pr-7 destroyed and removed/);
            assert.strictEqual(d.stack("pr-7"), undefined, "the stack is gone from the service");
            assert.deepStrictEqual(d.pulumiCalls().slice(before), [
                "pulumi stack select pr-7",
                "pulumi config refresh --stack pr-7 --force",
                "pulumi config cp --stack staging --dest pr-7",
                "pulumi destroy --stack pr-7 --yes --non-interactive --skip-preview",
                "pulumi stack rm pr-7 --yes --non-interactive",
            ]);
            assert.ok(d.stack("staging") && d.stack("production"), "nothing else is touched");
        });

        pinnedOnly("a destroy that fails fails the job loudly and leaves the stack, which the next sweep destroys", () => {
            d = delivery(cli, service({ "pr-8": { ...deployed(), failDestroy: "hcloud: server 42 is locked" } }), { pulls: { "8": "CLOSED" } });
            const close = d.run("review-stack.yml", "destroy", pullRequestEvent(8, "closed"));
            assert.notStrictEqual(close.status, 0);
            assert.match(close.output, /::error title=Review stack pr-8 not removed::pulumi destroy failed; pr-8 keeps its state and resources for the next sweep/);
            assert.match(close.output, /hcloud: server 42 is locked/);
            assert.strictEqual(d.stack("pr-8")?.resources, 28);
            assert.ok(!d.pulumiCalls().some((c) => c.startsWith("pulumi stack rm")), "never removed while it holds resources");

            d.service = { ...d.service, stacks: { ...d.service.stacks, "pr-8": { ...d.service.stacks["pr-8"], failDestroy: undefined } } };
            const sweep = d.run("review-stack-sweep.yml", "sweep", { github: { event_name: "schedule" } });
            assert.strictEqual(sweep.status, 0, sweep.output);
            assert.strictEqual(d.stack("pr-8"), undefined);
        });

        pinnedOnly("the sweep destroys exactly the stacks of closed or merged pull requests, leaves unreadable ones, and fails when anything failed", () => {
            d = delivery(
                cli,
                service({
                    "pr-1": deployed(),
                    "pr-2": deployed(),
                    "pr-3": deployed(),
                    "pr-4": deployed(),
                    "pr-5": { resources: 0, updates: [] },
                    "pr-6": { ...deployed(), failDestroy: "cloudflare: 502" },
                }),
                { pulls: { "1": "OPEN", "2": "CLOSED", "3": "MERGED", "5": "CLOSED", "6": "CLOSED" } },
            );
            stagingMovesOn(d);
            const sweep = d.run("review-stack-sweep.yml", "sweep", { github: { event_name: "schedule" } });
            assert.strictEqual(sweep.status, 1, "a stack left behind fails the run, so someone looks");
            assert.deepStrictEqual(Object.keys(d.service.stacks).sort(), ["pr-1", "pr-4", "pr-6", "production", "staging"]);
            assert.match(sweep.output, /::error title=Review stack pr-4 left alone::cannot read pull request #4/);
            assert.match(sweep.output, /pr-5 was never deployed; removed/);
            assert.match(sweep.output, /Review stack pr-6 not removed::pulumi destroy failed/);
            const changing = d.pulumiCalls().filter((c) => /^pulumi (destroy|stack rm|up)/.test(c));
            assert.ok(changing.every((c) => /pr-[2356]( |$)/.test(c)), changing.join("\n"));
        });

        pinnedOnly("a stack that does not exist is nothing to destroy; a login that fails is not", () => {
            d = delivery(cli, service(), { pulls: { "9": "CLOSED" } });
            const gone = d.run("review-stack.yml", "destroy", pullRequestEvent(9, "closed"));
            assert.strictEqual(gone.status, 0, gone.output);
            assert.match(gone.output, /no stack pr-9; nothing to destroy/);

            d.service = service({ "pr-9": deployed() });
            const noToken = d.run("review-stack.yml", "destroy", pullRequestEvent(9, "closed"), { environments: { ...ENVIRONMENTS, review: {} } });
            assert.notStrictEqual(noToken.status, 0);
            assert.match(noToken.output, /PULUMI_ACCESS_TOKEN must be set for login/);
            assert.match(noToken.output, /::error title=Review stack pr-9 not removed::cannot look up pr-9 \(pulumi exited 3\)/);
            const blind = d.run("review-stack-sweep.yml", "sweep", { github: { event_name: "schedule" } }, { environments: { ...ENVIRONMENTS, review: {} } });
            assert.notStrictEqual(blind.status, 0, "a sweep that cannot list the stacks fails");
            assert.match(blind.output, /PULUMI_ACCESS_TOKEN must be set for login/);
            assert.ok(d.stack("pr-9"), "and destroys nothing");
        });

        it("the close job destroys even where the CLI runs the program (PULUMI_RUN_PROGRAM) and so validates the config", () => {
            d = delivery(cli, service({ "pr-10": deployed() }));
            stagingMovesOn(d);
            d.snapshot.change("the runner runs the program on destroy", (dir) => {
                const file = path.join(dir, ".github", "workflows", "review-stack.yml");
                fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("      STACK: pr-${{ github.event.pull_request.number }}\n    steps:\n      # The base", "      STACK: pr-${{ github.event.pull_request.number }}\n      PULUMI_RUN_PROGRAM: \"true\"\n    steps:\n      # The base"));
            });
            const close = d.run("review-stack.yml", "destroy", pullRequestEvent(10, "closed"), {});
            assert.strictEqual(close.status, 0, close.output);
            assert.strictEqual(d.stack("pr-10"), undefined);
        });
    });
}
