// The delivery workflows (.github/): linted by a real workflow validator from npm, and their
// promises asserted on the parsed YAML: which credential each job can hold, which environment
// gates it, what pull-request code can reach, pinning. Every rule is a function that is also
// shown a workflow breaking it, so none passes by finding nothing to check. The jobs' scripts run
// for real in test/delivery-*.spec.ts.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { DEFAULT_HOST_TAGS } from "../config/parse";
import { costJson, planCost } from "../plan/cost";
import { writePlan } from "../plan/write";
import { tablePrices } from "../pricing/cost";
import { haveTool, planFor, ROOT } from "./support";
import { Action, Context, interpolate, Job, loadWorkflow, Step, Workflow, WORKFLOWS } from "./workflow-runner";

const GITHUB = path.join(ROOT, ".github");
const SCRIPTS = path.join(GITHUB, "scripts");
const ACTIONS = ["deployer", "pulumi-project"].map((a) => path.join(GITHUB, "actions", a, "action.yml"));
const WORKFLOW_FILES = ["deploy-app.yml", "drift.yml", "production.yml", "pull-request.yml", "restore-drill.yml", "review-stack-sweep.yml", "review-stack.yml", "staging.yml"];

const workflows = (): [string, Workflow][] => WORKFLOW_FILES.map((f) => [f, loadWorkflow(f)]);
const loadAction = (file: string): Action => YAML.parse(fs.readFileSync(file, "utf8")) as Action;
const steps = (job: Job): Step[] => job.steps ?? [];
const runs = (job: Job): string => steps(job).map((s) => s.run ?? "").join("\n");
const triggers = (workflow: Workflow): string[] => Object.keys(workflow.on);

/** Every `secrets.NAME` a job names, in its env, `with`, `if` or steps. */
const secretsOf = (job: Job): string[] => [...new Set([...JSON.stringify(job).matchAll(/secrets\.([A-Za-z0-9_]+)/g)].map((m) => m[1]))].sort();

/** The environment each job of the repository may hold credentials of, by its own names. */
const SECRET_PREFIX: Record<string, RegExp> = {
    review: /^REVIEW_/,
    staging: /^STAGING_/,
    "production-read": /^PRODUCTION_READ_/,
    production: /^PRODUCTION_(?!READ_)/,
};
const CI_TAG: Record<string, string> = { review: "tag:ci-review", staging: "tag:ci-staging", production: "tag:ci-production" };

/** Rule: a job holds its own environment's credentials only; a job outside every environment holds none. */
function credentialsOutsideTheirEnvironment(file: string, workflow: Workflow): string[] {
    return Object.entries(workflow.jobs).flatMap(([name, job]) =>
        secretsOf(job)
            .filter((secret) => !(job.environment !== undefined && SECRET_PREFIX[job.environment]?.test(secret)))
            .map((secret) => `${file} ${name}: ${secret} outside its environment (${job.environment ?? "none"})`),
    );
}

/** The jobs that update a stack (`production`, `staging`, or `"$STACK"` for review stacks) with pulumi-stack.sh. */
function updates(workflow: Workflow, stack: string): [string, Job][] {
    return Object.entries(workflow.jobs).filter(([, job]) => runs(job).split(/\s+/).join(" ").includes(`pulumi-stack.sh up ${stack}`));
}

/** Rule: no job a pull request triggers can hold any secret production's deploy holds, or enter its environments. */
function pullRequestsReachingProduction(all: [string, Workflow][]): string[] {
    const productionSecrets = new Set(all.flatMap(([, w]) => updates(w, "production").flatMap(([, job]) => secretsOf(job))));
    return all
        .filter(([, w]) => triggers(w).some((t) => t.startsWith("pull_request")))
        .flatMap(([file, w]) =>
            Object.entries(w.jobs).flatMap(([name, job]) => [
                ...secretsOf(job).filter((s) => productionSecrets.has(s)).map((s) => `${file} ${name} holds ${s}`),
                ...(job.environment?.startsWith("production") ? [`${file} ${name} runs in ${job.environment}`] : []),
            ]),
        );
}

/** Rule: a pull_request_target workflow (which holds the base repository's secrets) never checks out pull-request code. */
function pullRequestTargetCheckouts(all: [string, Workflow][]): string[] {
    return all
        .filter(([, w]) => triggers(w).includes("pull_request_target"))
        .flatMap(([file, w]) =>
            Object.entries(w.jobs).flatMap(([name, job]) =>
                steps(job)
                    .filter((s) => s.uses?.startsWith("actions/checkout") && /pull_request\.head|github\.head_ref|refs\/pull\//.test(JSON.stringify(s.with ?? {})))
                    .map(() => `${file} ${name} checks out pull-request code`),
            ),
        );
}

/** Every `uses:` line of a workflow or action file, as written (with its comment). */
const usesLines = (file: string): string[] => fs.readFileSync(file, "utf8").split("\n").filter((l) => /^\s*(-\s+)?uses:/.test(l)).map((l) => l.replace(/^\s*(-\s+)?uses:\s*/, ""));

/** Rule: a remote action is pinned by full commit SHA with its release tag in a comment. */
const unpinned = (line: string): boolean => !line.startsWith("./") && !/^[\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/.test(line);

/** A comment on the pull request, as the stand-in keeps it. */
interface Comment {
    id: number;
    body: string;
}

/**
 * The part of octokit that the preview comment's script uses, against one pull request, refusing
 * what GitHub's REST API refuses (docs.github.com/rest/issues/comments: owner, repo and
 * issue_number or comment_id are required; a body over 65536 characters is 422 "Body is too long
 * (maximum is 65536 characters)", as danger/danger#424 and reg-viz/reg-actions#123 quote it; an
 * unknown comment is 404).
 */
function githubStandIn(repository: string, pull: number, comments: Comment[]) {
    const [owner, repo] = repository.split("/");
    const check = (params: Record<string, unknown>, needs: string[]) => {
        if (params.owner !== owner || params.repo !== repo) throw Object.assign(new Error("Not Found"), { status: 404 });
        for (const name of needs) if (params[name] === undefined) throw Object.assign(new Error(`Parameter "${name}" is required`), { status: 400 });
        if (typeof params.body === "string" && params.body.length > 65536) {
            throw Object.assign(new Error('Validation Failed: {"resource":"IssueComment","code":"unprocessable","field":"data","message":"Body is too long (maximum is 65536 characters)"}'), { status: 422 });
        }
        if (params.issue_number !== undefined && params.issue_number !== pull) throw Object.assign(new Error("Not Found"), { status: 404 });
    };
    const listComments = async (params: Record<string, unknown>) => {
        check(params, ["issue_number"]);
        return { data: comments.map((c) => ({ ...c })) };
    };
    return {
        paginate: async (route: typeof listComments, params: Record<string, unknown>) => (await route(params)).data,
        rest: {
            issues: {
                listComments,
                createComment: async (params: Record<string, unknown>) => {
                    check(params, ["issue_number", "body"]);
                    comments.push({ id: 1000 + comments.length, body: String(params.body) });
                },
                updateComment: async (params: Record<string, unknown>) => {
                    check(params, ["comment_id", "body"]);
                    const comment = comments.find((c) => c.id === params.comment_id);
                    if (!comment) throw Object.assign(new Error("Not Found"), { status: 404 });
                    comment.body = String(params.body);
                },
            },
        },
    };
}

/**
 * Runs an actions/github-script step as the action does: the script is the body of an async
 * function of github, context and the rest (actions/github-script src/async-function.ts
 * callAsyncFunction), with the step's env in process.env meanwhile.
 */
async function githubScript(step: Step, env: Record<string, string>, args: Record<string, unknown>): Promise<void> {
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...params: string[]) => (...values: unknown[]) => Promise<void>;
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
        await new AsyncFunction(...Object.keys(args), String(step.with?.script))(...Object.values(args));
    } finally {
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    }
}

describe("delivery workflows", () => {
    it("are all valid for GitHub Actions (action-validator, a real workflow linter), the composite actions too", () => {
        assert.deepStrictEqual(fs.readdirSync(WORKFLOWS).filter((f) => f.endsWith(".yml")).sort(), WORKFLOW_FILES);
        for (const file of [...WORKFLOW_FILES.map((f) => path.join(WORKFLOWS, f)), ...ACTIONS]) {
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

    it("pull requests: tests, the offline plans with a diff against the base branch, one comment with staging's preview and where production's is", () => {
        const workflow = loadWorkflow("pull-request.yml");
        assert.deepStrictEqual(triggers(workflow), ["pull_request"]);
        assert.match(runs(workflow.jobs.test), /bash \.ci\/run/);
        const plan = workflow.jobs.plan;
        assert.ok(steps(plan).some((s) => s.with?.ref === "${{ github.event.pull_request.base.sha }}"), "the base branch is planned too");
        assert.match(runs(plan), /for stack in staging production/);
        assert.match(runs(plan), /diff -ru "plans\/base\/\$stack" "plans\/head\/\$stack"/);
        assert.ok(steps(plan).some((s) => s.uses?.startsWith("actions/upload-artifact") && s.with?.path === "plans/"));
        const previews = steps(workflow.jobs.preview).filter((s) => s.uses?.startsWith("pulumi/actions"));
        assert.deepStrictEqual(previews.map((s) => [s.with?.command, s.with?.["stack-name"]]), [["preview", "staging"]]);
        const comment = String(steps(workflow.jobs.preview).find((s) => s.uses?.startsWith("actions/github-script"))?.with?.script);
        assert.match(comment, /updateComment[\s\S]*createComment/, "one comment, updated");
        assert.match(comment, /Production workflow's preview job/, "the comment says where production's preview is");
    });

    it("fork pull requests get no secret: every job that reads one runs only for the repository's own branches", () => {
        for (const [file, workflow] of workflows().filter(([, w]) => triggers(w).includes("pull_request"))) {
            for (const [name, job] of Object.entries(workflow.jobs)) {
                if (secretsOf(job).length === 0) continue;
                assert.match(String(job.if), /github\.event\.pull_request\.head\.repo\.full_name == github\.repository/, `${file} ${name}`);
            }
        }
        assert.deepStrictEqual(secretsOf(loadWorkflow("pull-request.yml").jobs.plan), [], "the offline plan needs none");
    });

    it("each credential is held only by its own environment's jobs, under its own name", () => {
        const held = new Set<string>();
        for (const [file, workflow] of workflows()) {
            assert.deepStrictEqual(credentialsOutsideTheirEnvironment(file, workflow), []);
            for (const job of Object.values(workflow.jobs)) secretsOf(job).forEach((s) => held.add(s));
        }
        // Every environment is used, with a Pulumi credential of its own.
        for (const prefix of ["REVIEW_", "STAGING_", "PRODUCTION_READ_", "PRODUCTION_"]) assert.ok(held.has(`${prefix}PULUMI_TOKEN`), prefix);
        // The rule catches a job holding another environment's credential, and one holding any outside every environment.
        const leak: Workflow = { on: { push: {} }, jobs: { a: { environment: "review", env: { T: "${{ secrets.PRODUCTION_PULUMI_TOKEN }}" }, steps: [] }, b: { steps: [{ with: { t: "${{ secrets.REVIEW_PULUMI_TOKEN }}" } }] } } };
        assert.strictEqual(credentialsOutsideTheirEnvironment("leak.yml", leak).length, 2);
        assert.strictEqual(credentialsOutsideTheirEnvironment("leak.yml", { on: { push: {} }, jobs: { a: { environment: "production-read", env: { T: "${{ secrets.PRODUCTION_PULUMI_TOKEN }}" } } } }).length, 1);
    });

    it("pull-request code never holds what production's deploy holds, and production's deploy runs only in environment production", () => {
        const all = workflows();
        assert.deepStrictEqual(pullRequestsReachingProduction(all), []);
        const deploys = all.flatMap(([file, w]) => updates(w, "production").map(([name, job]) => [file, name, job] as const));
        assert.deepStrictEqual(deploys.map(([file, name]) => `${file} ${name}`), ["production.yml up"]);
        for (const [, , job] of deploys) {
            assert.strictEqual(job.environment, "production");
            assert.deepStrictEqual(secretsOf(job), ["PRODUCTION_APP_TOKEN", "PRODUCTION_PULUMI_TOKEN", "PRODUCTION_TS_OAUTH_CLIENT_ID", "PRODUCTION_TS_OAUTH_SECRET"]);
        }
        // The rule catches a pull-request job holding production's token or entering its environment.
        const bad: Workflow = { on: { pull_request: {} }, jobs: { a: { environment: "production-read", env: { T: "${{ secrets.PRODUCTION_PULUMI_TOKEN }}" } } } };
        assert.strictEqual(pullRequestsReachingProduction([...all, ["bad.yml", bad]]).length, 2);
    });

    it("no pull_request_target workflow checks out pull-request code (none uses pull_request_target)", () => {
        const all = workflows();
        assert.deepStrictEqual(pullRequestTargetCheckouts(all), []);
        assert.deepStrictEqual(all.filter(([, w]) => triggers(w).includes("pull_request_target")).map(([f]) => f), []);
        const pwn: Workflow = { on: { pull_request_target: {} }, jobs: { a: { steps: [{ uses: "actions/checkout@x", with: { ref: "${{ github.event.pull_request.head.sha }}" } }] } } };
        assert.strictEqual(pullRequestTargetCheckouts([["pwn.yml", pwn]]).length, 1);
    });

    it("staging deploys on every push to main, by hand and when called; production only by hand or when called, on main, after its preview", () => {
        const staging = loadWorkflow("staging.yml");
        assert.deepStrictEqual(staging.on.push, { branches: ["main"] });
        assert.deepStrictEqual(triggers(staging).sort(), ["push", "workflow_call", "workflow_dispatch"]);
        assert.strictEqual(staging.jobs.up.environment, "staging");
        const production = loadWorkflow("production.yml");
        assert.deepStrictEqual(triggers(production).sort(), ["workflow_call", "workflow_dispatch"]);
        assert.strictEqual(production.jobs.preview.environment, "production-read");
        assert.match(runs(production.jobs.preview), /pulumi-stack\.sh preview production/);
        assert.strictEqual(production.jobs.up.needs, "preview");
        for (const job of Object.values(production.jobs)) assert.strictEqual(job.if, "github.ref == 'refs/heads/main'");
        for (const [file, workflow] of workflows().filter(([f]) => f !== "production.yml")) assert.deepStrictEqual(updates(workflow, "production"), [], file);
    });

    it("one concurrency group per stack: a running update is never cancelled, previews may be", () => {
        const expected: Record<string, [string, string]> = {
            "staging.yml up": ["stack-staging", "staging"],
            "production.yml up": ["stack-production", "production"],
            "review-stack.yml up": ["stack-pr-${{ github.event.pull_request.number }}", "pr"],
            "review-stack.yml destroy": ["stack-pr-${{ github.event.pull_request.number }}", "pr"],
        };
        const touching = workflows().flatMap(([file, w]) =>
            Object.entries(w.jobs)
                .filter(([, job]) => /pulumi-stack\.sh up|destroy-review-stack\.sh/.test(runs(job)))
                .map(([name, job]) => [`${file} ${name}`, (job.concurrency ?? w.concurrency)!] as const),
        );
        assert.deepStrictEqual(touching.map(([key]) => key).sort(), Object.keys(expected).sort());
        for (const [key, concurrency] of touching) {
            assert.strictEqual(concurrency.group, expected[key][0], key);
            assert.strictEqual(concurrency["cancel-in-progress"], false, key);
        }
        assert.strictEqual(loadWorkflow("pull-request.yml").jobs.preview.concurrency?.["cancel-in-progress"], true);
        // A drift check queued in a stack's group would replace that stack's queued deploy.
        assert.strictEqual(loadWorkflow("drift.yml").concurrency?.group, "drift");
        assert.strictEqual(loadWorkflow("restore-drill.yml").concurrency?.group, "restore-drill");
    });

    it("review stacks: created from staging's config on open and push, destroyed from the base branch on close, swept nightly", () => {
        const workflow = loadWorkflow("review-stack.yml");
        assert.deepStrictEqual(workflow.on.pull_request, { types: ["opened", "synchronize", "reopened", "closed"] });
        const up = workflow.jobs.up;
        assert.match(String(up.if), /github\.event\.action != 'closed'/);
        assert.match(runs(up), /pulumi stack select "\$STACK" 2>\/dev\/null \|\| pulumi stack init "\$STACK" --copy-config-from staging/);
        assert.match(runs(up), /pulumi-stack\.sh up "\$STACK"/);
        assert.strictEqual(up.env?.STACK, "pr-${{ github.event.pull_request.number }}");
        const destroy = workflow.jobs.destroy;
        assert.match(String(destroy.if), /github\.event\.action == 'closed'/);
        assert.strictEqual(steps(destroy)[0].with?.ref, "${{ github.event.pull_request.base.ref }}");
        assert.match(runs(destroy), /\.github\/scripts\/destroy-review-stack\.sh "\$STACK"/);
        const sweep = loadWorkflow("review-stack-sweep.yml");
        assert.ok((sweep.on.schedule as { cron: string }[])[0].cron);
        assert.match(runs(sweep.jobs.sweep), /sweep-review-stacks\.sh/);
    });

    it("the app drives deploys: a dispatch deploys its commit to staging, then through production's environment when asked", () => {
        const workflow = loadWorkflow("deploy-app.yml");
        assert.deepStrictEqual(triggers(workflow).sort(), ["repository_dispatch", "workflow_dispatch"]);
        assert.deepStrictEqual(workflow.on.repository_dispatch, { types: ["deploy-app"] });
        const { staging, production } = workflow.jobs;
        assert.strictEqual(staging.uses, "./.github/workflows/staging.yml");
        assert.strictEqual(production.uses, "./.github/workflows/production.yml");
        assert.deepStrictEqual(production.needs, ["request", "staging"]);
        assert.strictEqual(production.if, "needs.request.outputs.production == 'true'");
        assert.strictEqual(staging.with?.commit, "${{ needs.request.outputs.commit }}");
        assert.strictEqual(production.with?.digest, "${{ needs.request.outputs.digest }}");
        // Environment secrets reach a called workflow only when passed on (docs.github.com, "Reuse workflows").
        assert.strictEqual(staging.secrets, "inherit");
        for (const file of ["staging.yml", "production.yml"]) {
            const call = loadWorkflow(file).on.workflow_call as { inputs: Record<string, unknown> };
            assert.ok("commit" in call.inputs, file);
        }
    });

    it("builds run natively on arm64 runners, without QEMU; only the jobs that build", () => {
        const building = workflows().flatMap(([file, w]) =>
            Object.entries(w.jobs)
                .filter(([, job]) => steps(job).some((s) => s.uses === "./infra/.github/actions/deployer"))
                .map(([name, job]) => [`${file} ${name}`, job["runs-on"]] as const),
        );
        // Staging and review stacks build (buildImage); production pulls what staging built.
        assert.deepStrictEqual(Object.fromEntries(building), {
            "production.yml up": "ubuntu-24.04",
            "review-stack.yml up": "ubuntu-24.04-arm",
            "staging.yml up": "ubuntu-24.04-arm",
        });
        for (const file of [...WORKFLOW_FILES.map((f) => path.join(WORKFLOWS, f)), ...ACTIONS]) assert.ok(!fs.readFileSync(file, "utf8").includes("setup-qemu"), file);
    });

    it("drift: staging and production every night, production with its read-only credential", () => {
        const workflow = loadWorkflow("drift.yml");
        assert.ok((workflow.on.schedule as { cron: string }[])[0].cron);
        assert.deepStrictEqual(
            Object.values(workflow.jobs).map((job) => [job.environment, runs(job).trim()]),
            [
                ["staging", ".github/scripts/drift.sh staging"],
                ["production-read", ".github/scripts/drift.sh production"],
            ],
        );
        assert.strictEqual(workflow.permissions?.issues, "write");
    });

    it("restore drill: staging and production every week, production with its read-only credential, sqlite3 installed first", () => {
        const workflow = loadWorkflow("restore-drill.yml");
        assert.deepStrictEqual(triggers(workflow).sort(), ["schedule", "workflow_dispatch"]);
        assert.match((workflow.on.schedule as { cron: string }[])[0].cron, /^\d+ \d+ \* \* \d$/, "weekly");
        assert.deepStrictEqual(
            Object.values(workflow.jobs).map((job) => [job.environment, secretsOf(job), steps(job).map((s) => s.run ?? s.uses?.split("@")[0])]),
            (["staging", "production"] as const).map((stack) => [
                stack === "staging" ? "staging" : "production-read",
                [stack === "staging" ? "STAGING_PULUMI_TOKEN" : "PRODUCTION_READ_PULUMI_TOKEN"],
                ["actions/checkout", "sudo apt-get update -q && sudo apt-get install -y -q --no-install-recommends sqlite3", "./.github/actions/pulumi-project", `.github/scripts/restore-drill.sh ${stack}`],
            ]),
        );
        assert.strictEqual(workflow.permissions?.issues, "write");
    });

    it("every preview and update runs the policy pack", () => {
        const script = fs.readFileSync(path.join(SCRIPTS, "pulumi-stack.sh"), "utf8");
        assert.match(script, /args=\(--stack "\$stack" --non-interactive --policy-pack policy\)/);
        assert.match(fs.readFileSync(path.join(SCRIPTS, "drift.sh"), "utf8"), /pulumi preview [^\n]*\\\n[^\n]*--policy-pack policy/);
        let checked = 0;
        for (const [file, workflow] of workflows()) {
            for (const job of Object.values(workflow.jobs)) {
                for (const step of steps(job)) {
                    if (step.uses?.startsWith("pulumi/actions") && step.with?.command) {
                        assert.strictEqual(step.with?.policyPacks, "policy", `${file}: ${step.name}`);
                        checked++;
                    }
                    assert.doesNotMatch(step.run ?? "", /pulumi (up|preview)\b/, `${file}: ${step.name} runs pulumi itself, past pulumi-stack.sh`);
                    if (/pulumi-stack\.sh|drift\.sh/.test(step.run ?? "")) checked++;
                }
            }
        }
        assert.strictEqual(checked, 7, "the PR preview, staging, production's preview and update, review stacks, two drift checks");
    });

    it("no expression is expanded into a script, and no secret into a log", () => {
        for (const file of [...WORKFLOW_FILES.map((f) => path.join(WORKFLOWS, f)), ...ACTIONS]) {
            const doc = YAML.parse(fs.readFileSync(file, "utf8")) as { jobs?: Record<string, Job>; runs?: { steps: Step[] } };
            for (const step of [...Object.values(doc.jobs ?? {}).flatMap(steps), ...(doc.runs?.steps ?? [])]) {
                const run = step.run ?? "";
                // Values reach scripts as environment variables only: an expression in a script is injection.
                assert.ok(!run.includes("${{"), `${path.basename(file)}: "${step.name ?? run}" expands an expression into its script`);
                assert.doesNotMatch(run, /set -x|(echo|printf)[^\n]*\$(\{)?(PULUMI_ACCESS_TOKEN|GH_TOKEN)/, `${path.basename(file)}: ${step.name}`);
            }
        }
    });

    it("actions are pinned by full commit SHA with the release in a comment, one commit per action everywhere, as docs/delivery.md lists them", () => {
        const pins = new Map<string, string>();
        for (const file of [...WORKFLOW_FILES.map((f) => path.join(WORKFLOWS, f)), ...ACTIONS]) {
            for (const line of usesLines(file)) {
                assert.ok(!unpinned(line), `${path.relative(ROOT, file)}: ${line}`);
                if (line.startsWith("./")) continue;
                const [name] = line.split("@");
                assert.strictEqual(pins.get(name) ?? line, line, `${name} pinned twice differently`);
                pins.set(name, line);
            }
        }
        for (const bad of ["actions/checkout@v4", "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "actions/checkout@3d3c42e # v7.0.1"]) assert.ok(unpinned(bad), bad);
        const documented = fs.readFileSync(path.join(ROOT, "docs", "delivery.md"), "utf8");
        for (const line of pins.values()) {
            const [name, rest] = line.split("@");
            const [sha, tag] = rest.split(" # ");
            assert.ok(documented.includes(`| \`${name}\` | \`${tag}\` | \`${sha}\` |`), `docs/delivery.md lists ${name} ${tag} ${sha}`);
        }
        assert.strictEqual(pins.size, 7);
    });

    it("the Pulumi CLI and Tailscale versions are fixed", () => {
        const version = fs.readFileSync(path.join(GITHUB, "pulumi-version"), "utf8");
        assert.match(version, /^\d+\.\d+\.\d+\n$/);
        const pulumiSteps = [...workflows().flatMap(([, w]) => Object.values(w.jobs).flatMap(steps)), ...ACTIONS.flatMap((f) => loadAction(f).runs.steps)].filter((s) =>
            s.uses?.startsWith("pulumi/actions"),
        );
        assert.strictEqual(pulumiSteps.length, 2);
        for (const step of pulumiSteps) {
            assert.strictEqual(step.with?.["pulumi-version"], undefined);
            assert.match(String(step.with?.["pulumi-version-file"]), /(^|\/)\.github\/pulumi-version$/);
        }
        const tailscale = loadAction(ACTIONS[0]).runs.steps.find((s) => s.uses?.startsWith("tailscale/github-action"));
        assert.match(String(tailscale?.with?.version), /^\d+\.\d+\.\d+$/);
    });

    it("tailnet access per environment: each job joins with its environment's CI tag, which the policy admits on that environment's hosts only", () => {
        const joined: Record<string, string> = {};
        for (const [file, workflow] of workflows()) {
            for (const [name, job] of Object.entries(workflow.jobs)) {
                for (const step of steps(job).filter((s) => s.uses?.endsWith("/actions/deployer"))) {
                    assert.strictEqual(step.with?.["tailscale-tag"], CI_TAG[job.environment!], `${file} ${name}`);
                    joined[job.environment!] = String(step.with?.["tailscale-tag"]);
                }
            }
        }
        assert.deepStrictEqual(joined, CI_TAG);
        // The example policy in docs/hosts.md, Access.
        const hosts = fs.readFileSync(path.join(ROOT, "docs", "hosts.md"), "utf8");
        const jsonc = /```jsonc\n([\s\S]*?)```/.exec(hosts.slice(hosts.indexOf("## Access")))![1];
        const policy = JSON.parse(jsonc.replace(/^\s*\/\/.*$/gm, "")) as { ssh: { action: string; src: string[]; dst: string[]; users: string[] }[] };
        const admitted = (ciTag: string): string[] => policy.ssh.filter((r) => r.src.includes(ciTag) && r.users.includes("deploy")).flatMap((r) => r.dst).sort();
        const hostTag = { production: DEFAULT_HOST_TAGS.production, staging: DEFAULT_HOST_TAGS.staging, review: DEFAULT_HOST_TAGS.review };
        for (const [environment, ciTag] of Object.entries(CI_TAG)) assert.deepStrictEqual(admitted(ciTag), [hostTag[environment as keyof typeof hostTag]], ciTag);
        assert.ok(!policy.ssh.some((r) => r.dst.includes(DEFAULT_HOST_TAGS.production) && r.action === "accept" && r.src.some((s) => s !== CI_TAG.production)), "production's host admits production's CI tag only, unattended");
    });

    it("the scheduled checks run for staging or production only, refused before any tool runs", () => {
        for (const [script, done] of [["drift", "checked"], ["restore-drill", "drilled"]]) {
            for (const args of [["pr-7"], []]) {
                // The system's tools only, no pulumi or gh stand-in: a refusal reaches neither.
                const run = spawnSync("bash", [path.join(ROOT, ".github", "scripts", `${script}.sh`), ...args], { cwd: ROOT, encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
                assert.strictEqual(run.status, 2, `${script} ${args.join(" ")}`);
                assert.strictEqual(
                    run.stderr,
                    `${script}: ${args[0] ?? "no stack"}: only staging and production are ${done} (review stacks are short-lived); usage: ${script}.sh staging|production\n`,
                );
            }
        }
    });

    it("scripts pass shellcheck", function () {
        if (!haveTool("shellcheck")) this.skip();
        execFileSync("shellcheck", fs.readdirSync(SCRIPTS).map((f) => path.join(SCRIPTS, f)));
    });
});

describe("pull requests: the preview comment carries the offline plans' host impact and bill", () => {
    const workflow = loadWorkflow("pull-request.yml");
    let tmp: string;
    before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pr-comment-"))));
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));
    /** plan-compare's Markdown as the plan job's summary has it, and the job's output carrying it. */
    let markdown = "";
    let output = "";

    it("the plan job writes plan-compare to its summary and hands it on as one base64 line", async function () {
        this.timeout(180_000);
        // Base and head planned as the job plans them; the head rescales staging.
        for (const [tree, overrides] of [["base", {}], ["head", { webServerType: "cax21" }]] as const) {
            for (const stack of ["staging", "production"]) {
                const result = await planFor(stack, stack === "staging" ? overrides : {});
                writePlan(result, path.join(tmp, "plans", tree, stack), { "cost.json": costJson(planCost(result, tablePrices())) });
            }
        }
        // The pull request's checkout, built, where the step runs plan-compare.
        fs.symlinkSync(ROOT, path.join(tmp, "head"));
        const plan = workflow.jobs.plan;
        const step = steps(plan).find((s) => s.id === "compare");
        const files = { summary: path.join(tmp, "summary"), output: path.join(tmp, "output") };
        const run = spawnSync("bash", ["-e", "-c", String(step?.run)], {
            cwd: tmp,
            encoding: "utf8",
            env: { ...process.env, GITHUB_WORKSPACE: tmp, GITHUB_STEP_SUMMARY: files.summary, GITHUB_OUTPUT: files.output },
        });
        assert.strictEqual(run.status, 0, run.stderr);
        markdown = fs.readFileSync(files.summary, "utf8");
        assert.match(markdown, /^## What this change does to the hosts and the monthly bill\n/);
        assert.match(markdown, /\n- \*\*shuts shop-staging-web-1 down to change its type\*\* \(cax11 → cax21\)/);
        assert.match(markdown, /\| \*\*total\*\*, databases changing all month \| \d+\.\d\d \| \d+\.\d\d \| \+\d+\.\d\d \|/);
        assert.match(markdown, /\*\*New order:\*\* this change turns the existing shop-staging-web-1 into a new order/);
        assert.match(markdown, /\n### production\n\nNo change replaces, powers off, orders or deletes the host\.\n/);
        // GitHub reads $GITHUB_OUTPUT as name=value lines (or name<<delimiter blocks).
        const lines = fs.readFileSync(files.output, "utf8").split("\n").filter(Boolean);
        assert.strictEqual(lines.length, 1);
        assert.match(lines[0], /^markdown=[A-Za-z0-9+/]+=*$/);
        output = String(interpolate(plan.outputs?.compare, { steps: { compare: { outputs: { markdown: lines[0].slice("markdown=".length) } } } }));
        assert.strictEqual(Buffer.from(output, "base64").toString("utf8"), markdown);
    });

    it("the preview job waits for it (and runs when it failed), and its one comment shows the preview and the bill within GitHub's limit", async () => {
        assert.ok(output, "the plan job's output (previous test)");
        const preview = workflow.jobs.preview;
        assert.strictEqual(preview.needs, "plan");
        assert.strictEqual(preview.if, "${{ !cancelled() && github.event.pull_request.head.repo.full_name == github.repository }}");
        const step = steps(preview).find((s) => s.uses?.startsWith("actions/github-script"));
        assert.ok(step);
        const comments: Comment[] = [{ id: 7, body: "a reviewer's comment" }];
        const github = githubStandIn("acme/rails-stack", 42, comments);
        await assert.rejects(github.rest.issues.createComment({ owner: "acme", repo: "rails-stack", issue_number: 42, body: "x".repeat(65537) }), /Body is too long/);
        const comment = async (staging: string, plan: { result: string; outputs: Record<string, string> }): Promise<string> => {
            const context: Context = { needs: { plan }, steps: { staging: { outputs: { output: staging } } } };
            // A missing value reaches the environment as "", as on GitHub.
            const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, String(interpolate(v, context) ?? "")]));
            const run = { repo: { owner: "acme", repo: "rails-stack" }, payload: { pull_request: { number: 42 } } };
            await githubScript(step, env, { github, context: run, core: {}, require });
            const ours = comments.filter((c) => c.body.startsWith("<!-- rails-stack preview -->"));
            assert.strictEqual(ours.length, 1, "one comment, updated");
            assert.ok(Buffer.byteLength(ours[0].body) <= 65536, `${Buffer.byteLength(ours[0].body)} bytes`);
            return ours[0].body;
        };
        const planned = { result: "success", outputs: { compare: output } };

        const small = await comment("Previewing update (staging):\n  ~ 1 to update\n  26 unchanged", planned);
        assert.ok(small.startsWith("<!-- rails-stack preview -->\n## pulumi preview\n### staging\n```\nPreviewing update (staging):\n  ~ 1 to update\n  26 unchanged\n```\n### production\n"));
        assert.ok(small.endsWith(`\n\n${markdown.trimEnd()}`), "plan-compare's Markdown, whole, at the end");
        assert.match(small, /Production workflow's preview job/);

        // A preview far over the limit: its end is kept (the summary), the bill whole.
        const huge = await comment(`${"  ~ résumé ✓ a line of a long diff\n".repeat(6000)}Resources: 27 unchanged`, planned);
        assert.match(huge, /### staging\n```\n\(the start is cut to fit GitHub's comment limit\)\n[\s\S]*Resources: 27 unchanged\n```\n### production\n/);
        assert.ok(huge.endsWith(markdown.trimEnd()));
        assert.ok(Buffer.byteLength(huge) > 60_000, "the room is used");

        const failed = await comment("Previewing update (staging):", { result: "failure", outputs: {} });
        assert.match(failed, /\n## What this change does to the hosts and the monthly bill\n\nNot available: the offline plan job ended with `failure`; see its run\.$/);
        assert.deepStrictEqual(comments[0], { id: 7, body: "a reviewer's comment" });
        assert.strictEqual(comments.length, 2);
    });
});
