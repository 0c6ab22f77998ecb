// A stand-in for `npm run restore-drill` in the delivery tests: the real CLI
// (deploy/restore-drill-cli.ts: its flags, the stack's config parsed from the project it runs in,
// Litestream's credentials from the environment, sqlite3 and Litestream present, the Markdown
// report, the exit codes) with only the drill's cloud half answered here. The real drill needs R2's
// own hostname (the endpoint comes from cloudflareAccountId) and a replica that Litestream wrote:
// the deploy rehearsal has both (test/rehearsal/staging.spec.ts), a workflow test cannot.
// The backups buckets are a JSON file, RESTORE_DRILL_STANDIN_BUCKETS: per bucket, the one key pair
// R2 accepts on it and what a drill finds there. A bucket not in the file is missing (404), another
// key pair is refused (403), each with the real drill's line (deploy/restore-drill.ts bucketProblem).
import * as fs from "fs";
import { run } from "../../deploy/restore-drill-cli";
import { bucketProblem, DrillResult } from "../../deploy/restore-drill";
import { S3BucketMissing, S3CredentialsRefused } from "../../lib/s3";
import { litestreamInput } from "../../renderers/litestream";

export interface StandInBucket {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    /** What the drill finds in this bucket: a report per database, and its problems. */
    readonly found: DrillResult;
}

/** Bucket name → bucket. */
export type StandInBuckets = Record<string, StandInBucket>;

export function main(): void {
    const file = process.env.RESTORE_DRILL_STANDIN_BUCKETS;
    if (!file) throw new Error("stand-in: RESTORE_DRILL_STANDIN_BUCKETS is not set");
    run(process.argv.slice(2), {
        // npm runs a script in the project's directory (the npm stand-in, test/workflow-runner.ts).
        root: process.cwd(),
        drill: async (settings, tools) => {
            const input = litestreamInput(settings);
            const bucket = (JSON.parse(fs.readFileSync(file, "utf8")) as StandInBuckets)[input.bucket];
            const what = `HEAD ${input.bucket} at ${input.endpoint}`;
            if (!bucket) return { reports: [], problems: [bucketProblem(input, new S3BucketMissing(`bucket ${input.bucket} does not exist (${what}: HTTP 404)`, 404, undefined))] };
            if (tools.credentials.accessKeyId !== bucket.accessKeyId || tools.credentials.secretAccessKey !== bucket.secretAccessKey) {
                // HeadBucket has no body, so R2's answer carries no S3 code: the drill names the status.
                return { reports: [], problems: [bucketProblem(input, new S3CredentialsRefused(`credentials refused (${what}: HTTP 403)`, 403, undefined))] };
            }
            return bucket.found;
        },
    });
}
