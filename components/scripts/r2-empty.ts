// Delete-time emptier of a review stack's share of the review pool (its prefix), run by the storage component's Command as
// R2_EMPTY_COMMAND (relative and stable: `pulumi destroy` replays the command string stored at
// create time, and launch.js rebuilds bin/ when a fresh checkout lacks it). Runs on load, so
// nothing imports this file. Everything arrives as env; it writes to stderr only.
import { requiredEnv } from "../../lib/env";
import { emptyBucket, R2_EMPTY_ENV } from "../../lib/s3";

const required = (name: string): string => requiredEnv(process.env, name);

async function main(): Promise<string> {
    const bucket = required(R2_EMPTY_ENV.bucket);
    const prefix = process.env[R2_EMPTY_ENV.prefix] ?? "";
    const where = `${bucket}${prefix ? `/${prefix}` : ""}`;
    const r = await emptyBucket(
        {
            endpoint: required(R2_EMPTY_ENV.endpoint),
            bucket,
            accessKeyId: required(R2_EMPTY_ENV.accessKeyId),
            secretAccessKey: required(R2_EMPTY_ENV.secretAccessKey),
        },
        prefix,
    );
    return r.bucketExisted
        ? `${where}: deleted ${r.deletedObjects} objects, aborted ${r.abortedUploads} multipart uploads`
        : `${bucket} does not exist; nothing to empty`;
}

main().then(
    (summary) => process.stderr.write(`r2-empty: ${summary}\n`),
    (err: Error) => {
        process.stderr.write(`r2-empty: ${err.message}\n`);
        process.exitCode = 1;
    },
);
