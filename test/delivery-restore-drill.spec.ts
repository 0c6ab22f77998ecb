// The weekly restore drill: restore-drill.yml's jobs, their real steps from a fresh clone, against
// the pulumi and gh stand-ins and the drill's own (the real CLI, R2's answers stood in:
// test/stand-ins/restore-drill.ts): one issue per stack, opened, updated, closed; a drill that
// could not run said so; Litestream's key pair masked and in no gh call, issue or log.
import * as assert from "assert";
import * as path from "path";
import { addConfig, commitStagingSecrets, Delivery, deployedStack, ENVIRONMENTS, secure } from "./delivery-support";
import type { DrillResult } from "../deploy/restore-drill";
import type { JobResult } from "./workflow-runner";
import { haveTool } from "./support";

const PAIRS = {
    staging: { accessKeyId: "stagingbackupskeyid0001", secretAccessKey: "staging-backups-secret-0001" },
    production: { accessKeyId: "productionbackupskeyid01", secretAccessKey: "production-backups-secret-01" },
};
const BUCKET = { staging: "shop-staging-backups", production: "shop-production-backups" };
const ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";
const RUN_URL = "https://github.com/acme/rails-stack/actions/runs/4242";

const healthy: DrillResult = {
    reports: [{ database: "primary", file: "staging.sqlite3", replicaAgeSeconds: 42, restoreSeconds: 1.5, integrity: "ok", sizeBytes: 81920, tables: [{ name: "orders", rows: 12 }] }],
    problems: [],
};
const stale: DrillResult = {
    reports: [{ database: "primary", file: "staging.sqlite3", replicaAgeSeconds: 3 * 86400 }],
    problems: ["primary: its replica was last written 3d 0h ago, more than its snapshot interval 24h allows (1d 0h): Litestream is not replicating it (kamal accessory logs litestream)"],
};

describe("restore drill: weekly per stack, one issue per stack", function () {
    before(function () {
        if (!haveTool("jq") || !haveTool("git") || !haveTool("sqlite3")) this.skip();
    });
    let d: Delivery | undefined;
    afterEach(() => d?.dispose());
    const schedule = { github: { event_name: "schedule" } };
    const issues = () => d!.github.issues;

    /** Staging and production with their committed secrets and Litestream's pair set (`npm run r2-credentials`). */
    function delivery(repo: ConstructorParameters<typeof Delivery>[1] = {}): Delivery {
        const delivery = commitStagingSecrets(new Delivery({ org: "acme", stacks: { staging: deployedStack(), production: deployedStack() } }, repo));
        delivery.snapshot.change("Litestream's key pairs", (dir) => {
            for (const stack of ["staging", "production"] as const) {
                addConfig(path.join(dir, `Pulumi.${stack}.yaml`), {
                    "rails-stack:r2BackupsAccessKeyId": secure(PAIRS[stack].accessKeyId),
                    "rails-stack:r2BackupsSecretAccessKey": secure(PAIRS[stack].secretAccessKey),
                });
            }
        });
        return delivery;
    }
    const bucket = (stack: keyof typeof PAIRS, found: DrillResult) => ({ [BUCKET[stack]]: { ...PAIRS[stack], found } });

    /** No value of any pair in the log (but its masks), in any gh call, issue body or comment. */
    function assertNoSecret(result: JobResult): void {
        const values = Object.values(PAIRS).flatMap((p) => [p.accessKeyId, p.secretAccessKey]);
        const seen = [result.output, ...d!.ghCalls(), ...d!.pulumiCalls(), ...issues().flatMap((i) => [i.body, ...i.comments])].join("\n");
        for (const value of values) assert.ok(!seen.includes(value), `${value} leaked`);
    }
    const openIssue = (title: string) => issues().filter((i) => i.title === title && i.state === "OPEN");

    it("a healthy drill closes the stack's open issue; its pair is read from the stack's config and masked first", () => {
        d = delivery({ labels: ["restore-drill"], issues: [{ number: 7, title: "Restore drill: staging", body: "old", state: "OPEN", labels: ["restore-drill"], comments: [] }] });
        d.buckets = bucket("staging", healthy);
        const result = d.run("restore-drill.yml", "staging", schedule);
        assert.strictEqual(result.status, 0, result.output);
        assert.deepStrictEqual(result.masks, [PAIRS.staging.accessKeyId, PAIRS.staging.secretAccessKey]);
        assert.deepStrictEqual(d.aptCalls(), ["apt-get update -q", "apt-get install -y -q --no-install-recommends sqlite3"]);
        assert.ok(d.pulumiCalls().includes("pulumi config get --stack staging r2BackupsAccessKeyId"), d.pulumiCalls().join("\n"));
        assert.deepStrictEqual([issues()[0].state, issues()[0].comments], ["CLOSED", [`Every replica restores again: ${RUN_URL}`]]);
        // The drill's report reaches the run's summary: RPO and RTO every week.
        assert.match(result.output, /--- summary\n## Restore drill: staging\n[\s\S]*\| primary \| 42s \| 1\.5s \| ok \| 80\.0 KB \| orders 12 \|/);
        assertNoSecret(result);

        const quiet = d.run("restore-drill.yml", "staging", schedule);
        assert.strictEqual(quiet.status, 0, quiet.output);
        assert.strictEqual(issues().length, 1, "a healthy drill without an open issue opens none");
    });

    it("a failing drill opens one issue, a second failure updates it, the run is red with the drill's exit code", () => {
        d = delivery();
        d.buckets = bucket("staging", stale);
        const first = d.run("restore-drill.yml", "staging", schedule);
        assert.strictEqual(first.status, 1, first.output);
        assert.match(first.output, /::error title=Restore drill of staging found problems::see the issue "Restore drill: staging"/);
        assert.deepStrictEqual(d.github.labels, ["restore-drill"]);
        const [issue] = openIssue("Restore drill: staging");
        assert.deepStrictEqual(issue.labels, ["restore-drill"]);
        assert.ok(issue.body.startsWith(`The restore drill of **staging** found problems (${RUN_URL})`), issue.body);
        assert.ok(issue.body.includes("https://github.com/acme/rails-stack/blob/HEAD/docs/runbooks.md#8-restore-drill"), issue.body);
        assert.ok(issue.body.includes(`- ${stale.problems[0]}`), issue.body);
        assertNoSecret(first);

        // Rotated on R2 but not in the stack's config: R2 refuses the pair the drill holds.
        d.buckets = { [BUCKET.staging]: { accessKeyId: "rotated", secretAccessKey: "rotated", found: healthy } };
        const second = d.run("restore-drill.yml", "staging", schedule);
        assert.strictEqual(second.status, 1, second.output);
        assert.strictEqual(issues().length, 1, "one issue per stack");
        assert.ok(issues()[0].body.includes(`credentials refused by s3://${BUCKET.staging} at ${ENDPOINT} (HTTP 403): Litestream's key pair is wrong, rotated or not allowed on this bucket`), issues()[0].body);
        assert.ok(!issues()[0].body.includes("last written 3d"), "the body is this week's");
        assertNoSecret(second);
    });

    it("a drill that could not run is reported as such, in the same issue: pulumi failing", () => {
        d = delivery();
        d.buckets = bucket("production", stale);
        const first = d.run("restore-drill.yml", "production", schedule);
        assert.strictEqual(first.status, 1, first.output);
        // Without production-read's credential pulumi cannot give the pair: the update credential is never a fallback.
        const noRead = d.run("restore-drill.yml", "production", schedule, { environments: { ...ENVIRONMENTS, "production-read": {} } });
        assert.strictEqual(noRead.status, 2, noRead.output);
        assert.match(noRead.output, /::error title=Restore drill of production did not run::exit 2; see the issue "Restore drill: production"/);
        assert.strictEqual(issues().length, 1);
        const body = issues()[0].body;
        assert.ok(body.startsWith(`The restore drill of **production** could not run (${RUN_URL}, exit 2)`), body);
        assert.ok(body.includes("PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"), body);
        assert.ok(body.includes("pulumi config get could not give production's Litestream key pair"), body);
        assert.ok(!body.includes("last written"), "not last week's problems");
        assertNoSecret(noRead);
    });

    it("a stack whose pair was never set: the project's empty default, which the drill refuses to run with (exit 2)", () => {
        // `npm run r2-credentials` not run yet: `pulumi config get` gives Pulumi.yaml's default, "".
        d = commitStagingSecrets(new Delivery({ org: "acme", stacks: { staging: deployedStack(), production: deployedStack() } }));
        const result = d.run("restore-drill.yml", "staging", schedule);
        assert.strictEqual(result.status, 2, result.output);
        assert.deepStrictEqual(result.masks, [], "an empty value is not masked (the runner refuses it)");
        assert.match(result.output, /::error title=Restore drill of staging did not run::exit 2/);
        const [issue] = openIssue("Restore drill: staging");
        assert.match(issue.body, /could not run[\s\S]*restore-drill: LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY must hold the stack's Litestream credentials/);
        assertNoSecret(result);
    });

    it("a credential in the drill's output never reaches the issue: cleared as the runner masks it", () => {
        d = delivery();
        // As an S3 error that quoted the key id it refused would.
        d.buckets = bucket("staging", { reports: [], problems: [`s3://${BUCKET.staging}: InvalidAccessKeyId ${PAIRS.staging.accessKeyId}`] });
        const result = d.run("restore-drill.yml", "staging", schedule);
        assert.strictEqual(result.status, 1);
        assert.ok(issues()[0].body.includes(`s3://${BUCKET.staging}: InvalidAccessKeyId ***`), issues()[0].body);
        assert.ok(!issues()[0].body.includes(PAIRS.staging.accessKeyId));
    });
});
