// A stand-in for the GitHub CLI, faithful where the delivery scripts depend on it. Read from cli/cli
// (v2.60, the newest stored snapshot; these paths have been stable for years):
// - no token: the GitHub Actions hint and exit 4 (pkg/cmd/root/help.go authHelp, cmd/gh/main.go);
// - the repository from GH_REPO, --repo or a github.com git remote of the working directory, else
//   "none of the git remotes ... point to a known GitHub host" (actions/checkout sets origin);
// - `--json` refuses an unknown field and lists the known ones (pkg/cmdutil/json_flags.go,
//   api/query_builder.go IssueFields / PullRequestFields); `--jq` filters like jq -r (real jq);
// - `issue create` needs --title and --body/--body-file when not interactive, and every --label
//   must exist ("could not add label: 'x' not found", pkg/cmd/pr/shared/params.go);
// - `issue close` of a closed issue warns and succeeds; `label create` of an existing label fails
//   without --force (pkg/cmd/label/create.go);
// - a missing pull request or issue is the API's "Could not resolve to ..." GraphQL error.
// The repository (labels, issues, pull request states) is a JSON file, GH_STANDIN_REPO; every call
// is appended to GH_STANDIN_LOG.
import { spawnSync } from "child_process";
import * as fs from "fs";

export interface StandInIssue {
    number: number;
    title: string;
    body: string;
    state: "OPEN" | "CLOSED";
    labels: string[];
    comments: string[];
}

export interface StandInRepo {
    /** owner/name */
    repo: string;
    labels: string[];
    issues: StandInIssue[];
    /** Pull request number → state (OPEN, CLOSED, MERGED). */
    pulls: Record<string, string>;
}

class GhError extends Error {
    constructor(
        message: string,
        readonly code = 1,
    ) {
        super(message);
    }
}

const SHARED_FIELDS = ["assignees", "author", "body", "closed", "comments", "createdAt", "closedAt", "id", "labels", "milestone", "number", "projectCards", "projectItems", "reactionGroups", "state", "title", "updatedAt", "url"];
const ISSUE_FIELDS = [...SHARED_FIELDS, "isPinned", "stateReason"];
const PR_FIELDS = [...SHARED_FIELDS, "additions", "autoMergeRequest", "baseRefName", "changedFiles", "commits", "deletions", "files", "fullDatabaseId", "headRefName", "headRefOid", "headRepository", "headRepositoryOwner", "isCrossRepository", "isDraft", "latestReviews", "maintainerCanModify", "mergeable", "mergeCommit", "mergedAt", "mergedBy", "mergeStateStatus", "potentialMergeCommit", "reviewDecision", "reviewRequests", "reviews", "statusCheckRollup"];

interface Parsed {
    readonly values: Map<string, string[]>;
    readonly args: string[];
}

/** Flags with values only (every flag the scripts use takes one): the command's long names, and short forms mapped to them. */
function parse(argv: readonly string[], long: readonly string[], short: Readonly<Record<string, string>> = {}): Parsed {
    const values = new Map<string, string[]>();
    const args: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (!arg.startsWith("-")) {
            args.push(arg);
            continue;
        }
        const eq = arg.indexOf("=");
        const given = eq < 0 ? arg : arg.slice(0, eq);
        const name = given.startsWith("--") ? given.slice(2) : short[given];
        if (name === undefined || !long.includes(name)) throw new GhError(`unknown flag: ${given}`);
        const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
        if (value === undefined) throw new GhError(`flag needs an argument: ${given}`);
        values.set(name, [...(values.get(name) ?? []), value]);
    }
    return { values, args };
}

const one = (p: Parsed, name: string): string | undefined => p.values.get(name)?.at(-1);

function authHelp(): string {
    if (process.env.GITHUB_ACTIONS === "true") {
        return "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable. Example:\n  env:\n    GH_TOKEN: ${{ github.token }}\n";
    }
    if (process.env.CI) return "gh: To use GitHub CLI in automation, set the GH_TOKEN environment variable.\n";
    return "To get started with GitHub CLI, please run:  gh auth login\nAlternatively, populate the GH_TOKEN environment variable with a GitHub API authentication token.\n";
}

/** GH_REPO, --repo, or the working directory's github.com remote. */
function baseRepo(p: Parsed): string {
    const explicit = one(p, "repo") ?? process.env.GH_REPO;
    if (explicit) return explicit.replace(/^(https:\/\/)?github\.com\//, "");
    const remotes = spawnSync("git", ["remote", "-v"], { encoding: "utf8" });
    const match = /github\.com[:/]([^/\s]+\/[^/\s]+?)(\.git)?\s/.exec(remotes.stdout ?? "");
    if (!match) {
        throw new GhError("none of the git remotes configured for this repository point to a known GitHub host. To tell gh about a new GitHub host, please use `gh auth login`");
    }
    return match[1];
}

function fields(p: Parsed, allowed: readonly string[]): string[] | undefined {
    const json = one(p, "json");
    if (json === undefined) return undefined;
    const wanted = json.split(",");
    for (const f of wanted) {
        if (!allowed.includes(f)) throw new GhError(`Unknown JSON field: ${JSON.stringify(f)}\nAvailable fields:\n  ${[...allowed].sort().join("\n  ")}`);
    }
    return wanted;
}

/** --json output, filtered through --jq like gh (which prints strings raw). */
function jsonOut(p: Parsed, data: unknown): string {
    const text = JSON.stringify(data);
    const jq = one(p, "jq");
    if (jq === undefined) return `${text}\n`;
    const run = spawnSync("jq", ["-r", jq], { input: text, encoding: "utf8" });
    if (run.status !== 0) throw new GhError(run.stderr.trim());
    return run.stdout;
}

function readBody(p: Parsed): string | undefined {
    const file = one(p, "body-file");
    if (file !== undefined) return fs.readFileSync(file === "-" ? 0 : file, "utf8");
    return one(p, "body");
}

function issueRecord(repo: StandInRepo, issue: StandInIssue, wanted: readonly string[]): Record<string, unknown> {
    const all: Record<string, unknown> = {
        number: issue.number,
        title: issue.title,
        body: issue.body,
        state: issue.state,
        labels: issue.labels.map((name) => ({ name })),
        comments: issue.comments.map((body) => ({ body })),
        url: `https://github.com/${repo.repo}/issues/${issue.number}`,
    };
    return Object.fromEntries(wanted.map((f) => [f, all[f] ?? null]));
}

function findIssue(repo: StandInRepo, ref: string | undefined): StandInIssue {
    const number = Number(ref?.replace(/^#/, ""));
    const issue = repo.issues.find((i) => i.number === number);
    if (!issue) throw new GhError(`GraphQL: Could not resolve to an issue or pull request with the number of ${ref}. (repository.issue)`);
    return issue;
}

const STATE_OF: Record<string, string> = { open: "OPEN", closed: "CLOSED" };

function run(argv: string[], repo: StandInRepo): string {
    const [group, command] = argv;
    const rest = argv.slice(2);
    if (group === "pr" && command === "view") {
        const p = parse(rest, ["repo", "json", "jq"], { "-R": "repo", "-q": "jq" });
        const name = baseRepo(p);
        if (name !== repo.repo) throw new GhError(`GraphQL: Could not resolve to a Repository with the name '${name}'. (repository)`);
        const wanted = fields(p, PR_FIELDS);
        const number = p.args[0];
        const state = repo.pulls[number ?? ""];
        if (!state) throw new GhError(`GraphQL: Could not resolve to a PullRequest with the number of ${number}. (repository.pullRequest)`);
        const record: Record<string, unknown> = { number: Number(number), state, url: `https://github.com/${repo.repo}/pull/${number}` };
        return wanted ? jsonOut(p, Object.fromEntries(wanted.map((f) => [f, record[f] ?? null]))) : `#${number} ${state}\n`;
    }
    if (group === "issue" && command === "list") {
        const p = parse(rest, ["repo", "state", "label", "limit", "json", "jq", "search"], { "-R": "repo", "-s": "state", "-l": "label", "-L": "limit", "-q": "jq", "-S": "search" });
        const name = baseRepo(p);
        if (name !== repo.repo) throw new GhError(`GraphQL: Could not resolve to a Repository with the name '${name}'. (repository)`);
        const state = one(p, "state") ?? "open";
        if (!["open", "closed", "all"].includes(state)) throw new GhError(`invalid argument "${state}" for "-s, --state" flag: valid values are {open|closed|all}`);
        const labels = p.values.get("label") ?? [];
        const limit = Number(one(p, "limit") ?? 30);
        const found = repo.issues
            .filter((i) => state === "all" || i.state === STATE_OF[state])
            .filter((i) => labels.every((l) => i.labels.includes(l)))
            .sort((a, b) => b.number - a.number)
            .slice(0, limit);
        const wanted = fields(p, ISSUE_FIELDS);
        return wanted ? jsonOut(p, found.map((i) => issueRecord(repo, i, wanted))) : found.map((i) => `${i.number}\t${i.state}\t${i.title}\n`).join("");
    }
    if (group === "issue" && command === "create") {
        const p = parse(rest, ["repo", "title", "body", "body-file", "label"], { "-R": "repo", "-t": "title", "-b": "body", "-F": "body-file", "-l": "label" });
        baseRepo(p);
        const title = one(p, "title");
        const body = readBody(p);
        if (title === undefined || body === undefined) throw new GhError("must provide `--title` and `--body` when not running interactively");
        if (title.trim() === "") throw new GhError("title can't be blank");
        const labels = p.values.get("label") ?? [];
        for (const label of labels) if (!repo.labels.includes(label)) throw new GhError(`could not add label: '${label}' not found`);
        const number = Math.max(0, ...repo.issues.map((i) => i.number), ...Object.keys(repo.pulls).map(Number)) + 1;
        repo.issues.push({ number, title, body, state: "OPEN", labels, comments: [] });
        return `https://github.com/${repo.repo}/issues/${number}\n`;
    }
    if (group === "issue" && command === "edit") {
        const p = parse(rest, ["repo", "title", "body", "body-file"], { "-R": "repo", "-t": "title", "-b": "body", "-F": "body-file" });
        baseRepo(p);
        const issue = findIssue(repo, p.args[0]);
        const body = readBody(p);
        const title = one(p, "title");
        if (body === undefined && title === undefined) throw new GhError("field to edit flag required when not running interactively");
        if (body !== undefined) issue.body = body;
        if (title !== undefined) issue.title = title;
        return `https://github.com/${repo.repo}/issues/${issue.number}\n`;
    }
    if (group === "issue" && command === "comment") {
        const p = parse(rest, ["repo", "body", "body-file"], { "-R": "repo", "-b": "body", "-F": "body-file" });
        baseRepo(p);
        const issue = findIssue(repo, p.args[0]);
        const body = readBody(p);
        if (body === undefined) throw new GhError("`--body` or `--body-file` required when not running interactively");
        issue.comments.push(body);
        return `https://github.com/${repo.repo}/issues/${issue.number}#issuecomment-${issue.comments.length}\n`;
    }
    if (group === "issue" && command === "close") {
        const p = parse(rest, ["repo", "comment", "reason"], { "-R": "repo", "-c": "comment", "-r": "reason" });
        baseRepo(p);
        const issue = findIssue(repo, p.args[0]);
        if (issue.state === "CLOSED") {
            process.stderr.write(`! Issue ${repo.repo}#${issue.number} (${issue.title}) is already closed\n`);
            return "";
        }
        const comment = one(p, "comment");
        if (comment !== undefined) issue.comments.push(comment);
        issue.state = "CLOSED";
        process.stderr.write(`✓ Closed issue ${repo.repo}#${issue.number} (${issue.title})\n`);
        return "";
    }
    if (group === "label" && command === "create") {
        const p = parse(rest, ["repo", "color", "description", "force"], { "-R": "repo", "-c": "color", "-d": "description", "-f": "force" });
        baseRepo(p);
        const name = p.args[0];
        if (!name) throw new GhError("cannot create label: name argument required");
        if (repo.labels.includes(name) && one(p, "force") !== "true") {
            throw new GhError(`label with name ${JSON.stringify(name)} already exists; use \`--force\` to update its color and description`);
        }
        if (!repo.labels.includes(name)) repo.labels.push(name);
        return "";
    }
    throw new GhError(`unknown command ${JSON.stringify(`${group} ${command}`)} for "gh"`);
}

/** `--force` is gh's only boolean flag here: rewrite it to a value so parse() stays value-only. */
const normalise = (argv: readonly string[]): string[] => argv.flatMap((a) => (a === "--force" || a === "-f" ? ["--force", "true"] : [a]));

export function main(): void {
    const argv = normalise(process.argv.slice(2));
    const log = process.env.GH_STANDIN_LOG;
    if (log) fs.appendFileSync(log, `gh ${process.argv.slice(2).join(" ")}\n`);
    if (!process.env.GH_TOKEN && !process.env.GITHUB_TOKEN) {
        process.stderr.write(authHelp());
        process.exitCode = 4;
        return;
    }
    const file = process.env.GH_STANDIN_REPO;
    if (!file) throw new Error("stand-in: GH_STANDIN_REPO is not set");
    const repo = JSON.parse(fs.readFileSync(file, "utf8")) as StandInRepo;
    try {
        process.stdout.write(run(argv, repo));
        fs.writeFileSync(file, `${JSON.stringify(repo, null, 2)}\n`);
    } catch (err) {
        if (!(err instanceof GhError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = err.code;
    }
}
