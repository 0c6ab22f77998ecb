// One delivery scenario: a snapshot of this repository as CI would clone it, "the Pulumi service"
// and "the GitHub repository" of the stand-ins, the repository's environments with their secrets,
// and handlers for the remote actions the jobs use. Jobs run with test/workflow-runner.ts.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { StandInRepo } from "./stand-ins/gh";
import type { StandInService, StandInStack } from "./stand-ins/pulumi";
import type { StandInBuckets } from "./stand-ins/restore-drill";
import { ROOT } from "./support";
import { ActionHandler, aptStandIn, checkout, Context, JobResult, npmStandIn, RepoSnapshot, runJob, STAND_INS } from "./workflow-runner";

export const REPOSITORY = "acme/rails-stack";
export const APP_REPOSITORY = "acme/shop";

/** The secrets of each environment, named as docs/delivery.md lists them. */
export const ENVIRONMENTS: Record<string, Record<string, string>> = Object.fromEntries(
    Object.entries({
        review: ["REVIEW_PULUMI_TOKEN", "REVIEW_APP_TOKEN", "REVIEW_TS_OAUTH_CLIENT_ID", "REVIEW_TS_OAUTH_SECRET"],
        staging: ["STAGING_PULUMI_TOKEN", "STAGING_APP_TOKEN", "STAGING_TS_OAUTH_CLIENT_ID", "STAGING_TS_OAUTH_SECRET"],
        "production-read": ["PRODUCTION_READ_PULUMI_TOKEN"],
        production: ["PRODUCTION_PULUMI_TOKEN", "PRODUCTION_APP_TOKEN", "PRODUCTION_TS_OAUTH_CLIENT_ID", "PRODUCTION_TS_OAUTH_SECRET"],
    }).map(([env, names]) => [env, Object.fromEntries(names.map((n) => [n, `value-of-${n}`]))]),
);

/** A `secure:` value as the stand-in's service encrypts it. */
export const secure = (value: string): { secure: string } => ({ secure: `v1:${Buffer.from(value).toString("base64")}` });

/** The secrets an operator commits to staging's file (README, "Committed encrypted config"). */
export const STAGING_SECRETS = {
    "rails-stack:hcloudToken": secure("hcloud-token"),
    "rails-stack:cloudflareApiToken": secure("cloudflare-token"),
    "rails-stack:tailscaleOauthClientId": secure("ts-client"),
    "rails-stack:tailscaleOauthClientSecret": secure("ts-secret"),
    "rails-stack:registryPassword": secure("registry-password"),
    "rails-stack:registryPushPassword": secure("registry-push-password"),
    "rails-stack:railsMasterKey": secure("master-key"),
};

/** Adds keys to a stack file's `config:` block, keeping its comments. */
export function addConfig(file: string, values: Record<string, unknown>): void {
    const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
    for (const [key, value] of Object.entries(values)) doc.setIn(["config", key], value);
    fs.writeFileSync(file, doc.toString());
}

export interface Recorded {
    /** Every remote action a job used, with its inputs. */
    readonly actions: { uses: string; with: Record<string, string> }[];
}

export class Delivery {
    readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), "delivery-"));
    readonly snapshot = new RepoSnapshot(this.tmp);
    private readonly servicePath = path.join(this.tmp, "service.json");
    private readonly repoPath = path.join(this.tmp, "github.json");
    private readonly bucketsPath = path.join(this.tmp, "buckets.json");
    readonly pulumiLog = path.join(this.tmp, "pulumi.log");
    readonly ghLog = path.join(this.tmp, "gh.log");
    readonly aptLog = path.join(this.tmp, "apt.log");
    private workspaces = 0;

    constructor(service: StandInService, repo: Partial<StandInRepo> = {}) {
        fs.writeFileSync(this.servicePath, JSON.stringify(service));
        fs.writeFileSync(this.repoPath, JSON.stringify({ repo: REPOSITORY, labels: [], issues: [], pulls: {}, ...repo }));
        fs.writeFileSync(this.bucketsPath, "{}");
        fs.writeFileSync(this.pulumiLog, "");
        fs.writeFileSync(this.ghLog, "");
        fs.writeFileSync(this.aptLog, "");
    }

    get service(): StandInService {
        return JSON.parse(fs.readFileSync(this.servicePath, "utf8")) as StandInService;
    }
    set service(value: StandInService) {
        fs.writeFileSync(this.servicePath, JSON.stringify(value));
    }
    stack(name: string): StandInStack | undefined {
        return this.service.stacks[name];
    }
    get github(): StandInRepo {
        return JSON.parse(fs.readFileSync(this.repoPath, "utf8")) as StandInRepo;
    }
    /** The backups buckets the restore drill's stand-in finds (none at first: every bucket is missing). */
    set buckets(value: StandInBuckets) {
        fs.writeFileSync(this.bucketsPath, JSON.stringify(value));
    }
    /** `pulumi ...` calls so far, the stand-in's own log. */
    pulumiCalls(): string[] {
        return fs.readFileSync(this.pulumiLog, "utf8").split("\n").filter(Boolean);
    }
    ghCalls(): string[] {
        return fs.readFileSync(this.ghLog, "utf8").split("\n").filter(Boolean);
    }
    /** `apt-get ...` calls so far (run with sudo). */
    aptCalls(): string[] {
        return fs.readFileSync(this.aptLog, "utf8").split("\n").filter(Boolean);
    }

    /** Runs one job in a fresh workspace (a new runner): nothing left from an earlier job. */
    run(workflowFile: string, job: string, context: Context, options: { environments?: Record<string, Record<string, string>> } = {}): JobResult {
        const workspace = path.join(this.tmp, `runner-${++this.workspaces}`, "work");
        const tools = npmStandIn(path.join(this.tmp, "tools"), { "restore-drill": [process.execPath, path.join(ROOT, "launch.js"), "test/stand-ins/main", "restore-drill"] });
        aptStandIn(tools, this.aptLog);
        return runJob({
            workflowFile,
            // The workflow as committed: GitHub runs the file of the commit it checks out.
            workflowsDir: path.join(this.snapshot.dir, ".github", "workflows"),
            job,
            workspace,
            context: { vars: { APP_REPOSITORY }, ...context, github: { repository: REPOSITORY, ref: "refs/heads/main", token: "ghs_job_token", ...(context.github as object) } },
            environments: options.environments ?? ENVIRONMENTS,
            handlers: this.handlers(),
            env: {
                PATH: `${STAND_INS}:${tools}:${process.env.PATH}`,
                HOME: path.join(this.tmp, `runner-${this.workspaces}`),
                PULUMI_STANDIN_SERVICE: this.servicePath,
                PULUMI_STANDIN_LOG: this.pulumiLog,
                GH_STANDIN_REPO: this.repoPath,
                GH_STANDIN_LOG: this.ghLog,
                RESTORE_DRILL_STANDIN_BUCKETS: this.bucketsPath,
            },
        });
    }

    private handlers(): Record<string, ActionHandler> {
        const snapshot = this.snapshot.dir;
        return {
            "actions/checkout": (inputs, { workspace }) => {
                const dest = path.join(workspace, inputs.path || ".");
                const repository = inputs.repository || REPOSITORY;
                if (repository === REPOSITORY) return void checkout(snapshot, dest, repository, inputs.ref || undefined);
                if (repository !== APP_REPOSITORY) throw new Error(`checkout: no repository ${repository}`);
                if (!inputs.token) throw new Error("checkout: the app's repository is private; no token");
                // The app: a repository with one commit; a requested commit must be a full id.
                if (inputs.ref && !/^[0-9a-f]{40}$/.test(inputs.ref)) throw new Error(`checkout: ${inputs.ref} is not a commit of the app`);
                fs.mkdirSync(dest, { recursive: true });
                execFileSync("git", ["init", "--quiet", dest]);
            },
            "actions/setup-node": (inputs) => {
                if (!inputs["node-version"]) throw new Error("setup-node: no node-version");
            },
            // Installs the CLI the version file names: the stand-in then behaves as that release.
            "pulumi/actions": (inputs, { workspace }) => {
                if (inputs.command) throw new Error("pulumi/actions: commands are not emulated; the jobs under test run pulumi-stack.sh");
                const file = path.join(workspace, inputs["pulumi-version-file"] ?? "");
                if (!inputs["pulumi-version-file"] || !fs.existsSync(file)) throw new Error(`pulumi/actions: pulumi-version-file '${inputs["pulumi-version-file"]}' does not exist`);
                const version = fs.readFileSync(file, "utf8").trim();
                if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`pulumi/actions: ${version} is not one version`);
                return { PULUMI_STANDIN_VERSION: version };
            },
            "ruby/setup-ruby": () => undefined,
            "tailscale/github-action": (inputs) => {
                if (!inputs["oauth-client-id"] || !inputs["oauth-secret"]) throw new Error("tailscale: no OAuth client");
                if (!inputs.tags) throw new Error("tailscale: an OAuth client must tag its nodes");
                if (!/^\d+\.\d+\.\d+$/.test(inputs.version ?? "")) throw new Error(`tailscale: version ${inputs.version} is not fixed`);
            },
        };
    }

    dispose(): void {
        fs.rmSync(this.tmp, { recursive: true, force: true });
    }
}

/** The operator's commit of staging's encrypted secrets; optionally another CLI pin. */
export function commitStagingSecrets(d: Delivery, cli?: string): Delivery {
    d.snapshot.change("staging's secrets, committed encrypted", (dir) => {
        addConfig(path.join(dir, "Pulumi.staging.yaml"), STAGING_SECRETS);
        // Production pulls a reviewed digest: it has no push credential (the program refuses one).
        addConfig(path.join(dir, "Pulumi.production.yaml"), Object.fromEntries(Object.entries(STAGING_SECRETS).filter(([key]) => key !== "rails-stack:registryPushPassword")));
        if (cli) fs.writeFileSync(path.join(dir, ".github", "pulumi-version"), `${cli}\n`);
    });
    return d;
}

/** A stack holding resources after one update with staging's committed values. */
export const deployedStack = (resources = 28): StandInStack => ({
    resources,
    updates: [{ kind: "update", config: { "rails-stack:app": "shop", "rails-stack:domain": "example.com", ...STAGING_SECRETS } }],
});

/** The event of a pull request of this repository (not a fork). */
export const pullRequestEvent = (number: number, action: string): Context => ({
    github: {
        event_name: "pull_request",
        event: { action, number, pull_request: { number, head: { repo: { full_name: REPOSITORY } }, base: { ref: "main", sha: "0".repeat(40) } } },
    },
});
