// The delivery workflows (.github/): linted by a real workflow validator from npm, their promises
// asserted on the parsed YAML, and their scripts run with recording stand-ins for pulumi and gh.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { haveTool, ROOT } from "./support";

const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const SCRIPTS = path.join(ROOT, ".github", "scripts");

interface Step {
    name?: string;
    uses?: string;
    run?: string;
    with?: Record<string, string | boolean>;
    env?: Record<string, string>;
    "working-directory"?: string;
}
interface Job {
    if?: string;
    environment?: string;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    env?: Record<string, string>;
    steps: Step[];
}
interface Workflow {
    on: Record<string, unknown>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    jobs: Record<string, Job>;
}

const workflowFiles = (): string[] => fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith(".yml")).sort();
const load = (file: string): Workflow => YAML.parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8")) as Workflow;
const runs = (job: Job): string => job.steps.map((s) => s.run ?? "").join("\n");
/** The stacks a job updates or destroys, from its steps. */
function stacksTouched(job: Job): string[] {
    const stacks = new Set<string>();
    for (const step of job.steps) {
        if (step.uses?.startsWith("pulumi/actions") && ["up", "destroy"].includes(String(step.with?.command))) stacks.add(String(step.with?.["stack-name"]));
        if (/pulumi (up|destroy)|destroy-review-stack/.test(step.run ?? "")) stacks.add(job.env?.STACK ?? "?");
    }
    return [...stacks];
}
const concurrencyOf = (workflow: Workflow, job: Job) => job.concurrency ?? workflow.concurrency;

describe("delivery workflows", () => {
    it("are all valid for GitHub Actions (action-validator, a real workflow linter)", () => {
        const files = [...workflowFiles().map((f) => path.join(WORKFLOWS, f)), path.join(ROOT, ".github", "actions", "deployer", "action.yml")];
        assert.deepStrictEqual(workflowFiles(), ["production.yml", "pull-request.yml", "review-stack-sweep.yml", "review-stack.yml", "staging.yml"]);
        for (const file of files) {
            const run = spawnSync(process.execPath, [require.resolve("@action-validator/cli/cli.mjs"), file], { encoding: "utf8" });
            assert.strictEqual(run.status, 0, `${path.relative(ROOT, file)}: ${run.stdout}${run.stderr}`);
        }
    });

    it("the linter really lints: an unknown key fails", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "workflow-"));
        try {
            fs.writeFileSync(path.join(tmp, "bad.yml"), "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n");
            const run = spawnSync(process.execPath, [require.resolve("@action-validator/cli/cli.mjs"), path.join(tmp, "bad.yml")], { encoding: "utf8" });
            assert.notStrictEqual(run.status, 0);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("pull requests: tests, the offline plans with a diff against the base branch, one preview comment", () => {
        const workflow = load("pull-request.yml");
        assert.deepStrictEqual(Object.keys(workflow.on), ["pull_request"]);
        assert.match(runs(workflow.jobs.test), /bash \.ci\/run/);
        const plan = workflow.jobs.plan;
        assert.ok(plan.steps.some((s) => s.with?.ref === "${{ github.event.pull_request.base.sha }}"), "the base branch is planned too");
        assert.match(runs(plan), /npm run --silent plan -- --stack "\$stack"/);
        assert.match(runs(plan), /for stack in staging production/);
        assert.match(runs(plan), /diff -ru "plans\/base\/\$stack" "plans\/head\/\$stack"/);
        assert.match(runs(plan), /GITHUB_STEP_SUMMARY/);
        assert.ok(plan.steps.some((s) => s.uses?.startsWith("actions/upload-artifact") && s.with?.path === "plans/"));
        const previews = workflow.jobs.preview.steps.filter((s) => s.uses?.startsWith("pulumi/actions"));
        assert.deepStrictEqual(previews.map((s) => [s.with?.command, s.with?.["stack-name"]]), [["preview", "staging"], ["preview", "production"]]);
        const comment = workflow.jobs.preview.steps.find((s) => s.uses?.startsWith("actions/github-script"));
        assert.match(String(comment?.with?.script), /updateComment[\s\S]*createComment/, "one comment, updated");
    });

    it("fork pull requests get no secret: every job that reads one runs only for the repository's own branches", () => {
        for (const file of ["pull-request.yml", "review-stack.yml"]) {
            const workflow = load(file);
            for (const [name, job] of Object.entries(workflow.jobs)) {
                if (!JSON.stringify(job).includes("secrets.")) continue;
                assert.match(String(job.if), /github\.event\.pull_request\.head\.repo\.full_name == github\.repository/, `${file} ${name}`);
            }
        }
        assert.ok(!JSON.stringify(load("pull-request.yml").jobs.plan).includes("secrets."), "the offline plan needs none");
    });

    it("staging deploys on every push to main; production only by hand, behind its protected environment", () => {
        const staging = load("staging.yml");
        assert.deepStrictEqual(staging.on.push, { branches: ["main"] });
        assert.deepStrictEqual(stacksTouched(staging.jobs.up), ["staging"]);
        const production = load("production.yml");
        assert.deepStrictEqual(Object.keys(production.on), ["workflow_dispatch"]);
        assert.strictEqual(production.jobs.up.environment, "production");
        for (const file of workflowFiles().filter((f) => f !== "production.yml")) {
            for (const job of Object.values(load(file).jobs)) assert.ok(!stacksTouched(job).includes("production"), `${file} touches production`);
            assert.ok(!fs.readFileSync(path.join(WORKFLOWS, file), "utf8").includes("stack production"), file);
        }
    });

    it("one concurrency group per stack: a running update is never cancelled, previews may be", () => {
        const expected: Record<string, string> = { staging: "stack-staging", production: "stack-production", "pr-${{ github.event.pull_request.number }}": "stack-pr-${{ github.event.pull_request.number }}" };
        let touching = 0;
        for (const file of workflowFiles()) {
            const workflow = load(file);
            for (const [name, job] of Object.entries(workflow.jobs)) {
                for (const stack of stacksTouched(job)) {
                    touching++;
                    const concurrency = concurrencyOf(workflow, job);
                    assert.strictEqual(concurrency?.group, expected[stack], `${file} ${name}`);
                    assert.strictEqual(concurrency?.["cancel-in-progress"], false, `${file} ${name}`);
                }
            }
        }
        assert.strictEqual(touching, 4, "staging, production, and a review stack's up and destroy");
        assert.strictEqual(load("pull-request.yml").jobs.preview.concurrency?.["cancel-in-progress"], true);
    });

    it("review stacks: created from staging's config on open and push, destroyed then removed on close, swept nightly", () => {
        const workflow = load("review-stack.yml");
        assert.deepStrictEqual(workflow.on.pull_request, { types: ["opened", "synchronize", "reopened", "closed"] });
        const up = workflow.jobs.up;
        assert.match(String(up.if), /github\.event\.action != 'closed'/);
        assert.match(runs(up), /pulumi stack select "\$STACK" 2>\/dev\/null \|\| pulumi stack init "\$STACK" --copy-config-from staging/);
        assert.match(runs(up), /pulumi up --stack "\$STACK" --yes/);
        assert.strictEqual(up.env?.STACK, "pr-${{ github.event.pull_request.number }}");
        const destroy = workflow.jobs.destroy;
        assert.match(String(destroy.if), /github\.event\.action == 'closed'/);
        assert.match(runs(destroy), /npm ci/, "the delete-time clean-ups run from the checkout");
        assert.match(runs(destroy), /\.github\/scripts\/destroy-review-stack\.sh "\$STACK"/);
        const sweep = load("review-stack-sweep.yml");
        assert.ok(Array.isArray(sweep.on.schedule) && (sweep.on.schedule as { cron: string }[])[0].cron);
        assert.match(runs(sweep.jobs.sweep), /sweep-review-stacks\.sh/);
    });

    it("every preview and update runs the policy pack", () => {
        let checked = 0;
        for (const file of workflowFiles()) {
            for (const job of Object.values(load(file).jobs)) {
                for (const step of job.steps) {
                    if (step.uses?.startsWith("pulumi/actions") && ["preview", "up"].includes(String(step.with?.command))) {
                        assert.strictEqual(step.with?.policyPacks, "policy", `${file}: ${step.name ?? step.with?.command}`);
                        checked++;
                    }
                    if (/pulumi (up|preview)/.test(step.run ?? "")) {
                        assert.match(step.run ?? "", /--policy-pack policy/, `${file}: ${step.name}`);
                        checked++;
                    }
                }
            }
        }
        assert.strictEqual(checked, 5, "two previews, staging, production and review-stack updates");
    });

    it("no secret is written into a command line, a file or a log", () => {
        for (const file of [...workflowFiles().map((f) => path.join(WORKFLOWS, f)), path.join(ROOT, ".github", "actions", "deployer", "action.yml")]) {
            const text = fs.readFileSync(file, "utf8");
            const doc = YAML.parse(text) as { jobs?: Record<string, Job>; runs?: { steps: Step[] } };
            const steps = [...Object.values(doc.jobs ?? {}).flatMap((j) => j.steps), ...(doc.runs?.steps ?? [])];
            for (const step of steps) {
                const run = step.run ?? "";
                assert.ok(!run.includes("secrets.") && !run.includes("inputs.") , `${path.basename(file)}: "${step.name ?? run}" expands a secret into its script`);
                assert.doesNotMatch(run, /set -x|(echo|printf)[^\n]*\$(\{)?(PULUMI_ACCESS_TOKEN|GH_TOKEN|TS_OAUTH)/, `${path.basename(file)}: ${step.name}`);
            }
        }
    });
});

describe("delivery scripts with recording stand-ins for pulumi and gh", function () {
    let tmp: string;
    before(function () {
        if (!haveTool("jq")) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-"));
        fs.mkdirSync(path.join(tmp, "bin"));
        // pulumi: lists FAKE_STACKS, records every call; gh: answers FAKE_PR_<n> as the state.
        fs.writeFileSync(
            path.join(tmp, "bin", "pulumi"),
            `#!/bin/bash\necho "pulumi $*" >>"$FAKE_LOG"\ncase "$1 $2" in\n"stack ls") printf '%s' "$FAKE_STACKS" ;;\n"stack select") [[ " $FAKE_EXISTING " == *" $3 "* ]] ;;\nesac\n`,
            { mode: 0o755 },
        );
        fs.writeFileSync(
            path.join(tmp, "bin", "gh"),
            `#!/bin/bash\necho "gh $*" >>"$FAKE_LOG"\nvar="FAKE_PR_$3"\n[ -n "\${!var:-}" ] || exit 1\necho "\${!var}"\n`,
            { mode: 0o755 },
        );
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    function script(name: string, args: string[], env: Record<string, string>): { status: number | null; output: string; calls: string[] } {
        const log = path.join(tmp, `${name}-${Date.now()}.log`);
        const run = spawnSync("bash", [path.join(SCRIPTS, name), ...args], { encoding: "utf8", env: { PATH: `${path.join(tmp, "bin")}:${process.env.PATH}`, FAKE_LOG: log, ...env } });
        const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
        return { status: run.status, output: `${run.stdout}${run.stderr}`, calls };
    }

    it("destroys a review stack, then removes it; refuses anything but pr-<number>", () => {
        const run = script("destroy-review-stack.sh", ["pr-42"], { FAKE_EXISTING: "pr-42" });
        assert.strictEqual(run.status, 0, run.output);
        assert.deepStrictEqual(run.calls, [
            "pulumi stack select pr-42",
            "pulumi destroy --stack pr-42 --yes --non-interactive --skip-preview",
            "pulumi stack rm pr-42 --yes --non-interactive",
        ]);
        for (const stack of ["production", "staging", "pr-0", "pr-x"]) {
            const refused = script("destroy-review-stack.sh", [stack], { FAKE_EXISTING: stack });
            assert.strictEqual(refused.status, 2, stack);
            assert.deepStrictEqual(refused.calls, [], stack);
        }
        assert.match(script("destroy-review-stack.sh", ["pr-7"], { FAKE_EXISTING: "" }).output, /no stack pr-7; nothing to destroy/);
    });

    it("the sweep destroys exactly the review stacks of closed or merged pull requests", () => {
        const stacks = JSON.stringify([{ name: "acme/staging" }, { name: "acme/production" }, { name: "acme/pr-1" }, { name: "acme/pr-2" }, { name: "acme/pr-3" }, { name: "acme/pr-4" }]);
        const run = script("sweep-review-stacks.sh", [], { FAKE_STACKS: stacks, FAKE_EXISTING: "pr-1 pr-2 pr-3 pr-4", FAKE_PR_1: "OPEN", FAKE_PR_2: "CLOSED", FAKE_PR_3: "MERGED" });
        const destroyed = run.calls.filter((c) => c.startsWith("pulumi destroy")).map((c) => c.split(" ")[3]);
        assert.deepStrictEqual(destroyed, ["pr-2", "pr-3"]);
        assert.ok(!run.calls.some((c) => /staging|production/.test(c) && !c.startsWith("pulumi stack ls")));
        assert.match(run.output, /cannot read pull request #4; leaving pr-4 alone/);
        assert.strictEqual(run.status, 1, "an unreadable pull request fails the sweep, so someone looks");
    });

    it("pass shellcheck", function () {
        if (!haveTool("shellcheck")) this.skip();
        execFileSync("shellcheck", fs.readdirSync(SCRIPTS).map((f) => path.join(SCRIPTS, f)));
    });
});
