// `npm run r2-credentials -- --stack <production|staging> [--revoke <token id>...]`: the one step that
// mints R2 credentials, run by an operator (or an admin job) with a Cloudflare token that may create
// account API tokens, CLOUDFLARE_ADMIN_API_TOKEN, which no routine `pulumi up` holds: a token that
// can create tokens "can create tokens with access to any of a user's resources"
// (developers.cloudflare.com/fundamentals/api/how-to/create-via-api). For each purpose of the stack
// it creates an account API token allowed object read and write on that purpose's one bucket, turns
// it into an S3 key pair (key id = token id, secret = SHA-256 of its value: R2's rule,
// developers.cloudflare.com/r2/api/tokens) and stores the pair in the stack's config as secrets with
// `pulumi config set --secret`, the value on stdin, never on a command line. Staging's run also
// mints the review pool's pairs, which review stacks copy with staging's config.
// Exit 0 done, 1 an API or pulumi call failed, 2 bad usage.
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as path from "path";
import { parseConfig } from "../config/parse";
import { R2_CREDENTIAL_KEYS } from "../config/parse-storage";
import type { R2Jurisdiction, Settings } from "../config/settings";
import { stackPrefix } from "../lib/naming";
import { PROJECT_ROOT } from "../lib/project";

/**
 * Cloudflare permission groups "Workers R2 Storage Bucket Item Read" / "... Item Write" (object read
 * and list; object write and delete). Constant across accounts (developers.cloudflare.com/r2/api/tokens/,
 * "Permission groups"), so no lookup.
 */
export const R2_BUCKET_ITEM_READ = "6a018a9f2fc74eb6b293b0c548f38b39";
export const R2_BUCKET_ITEM_WRITE = "2efd5506f9c8494dacb1fa10a3e7d5b6";

/** The token-policy resource key of one bucket. */
export const r2BucketResource = (accountId: string, jurisdiction: R2Jurisdiction, bucket: string): string => `com.cloudflare.edge.r2.bucket.${accountId}_${jurisdiction}_${bucket}`;

/** One credential to mint: its token's name, the one bucket it may use, the config keys of its pair. */
export interface Credential {
    readonly purpose: string;
    readonly tokenName: string;
    readonly bucket: string;
    readonly keys: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** Every credential a stack's config carries: its own two, and on staging the review pool's two. */
export function credentialsOf(settings: Pick<Settings, "app" | "stack" | "kind" | "storage">): Credential[] {
    const own = R2_CREDENTIAL_KEYS.own;
    const prefix = stackPrefix(settings);
    const list: Credential[] = [
        { purpose: "attachments", tokenName: `${prefix}-r2-attachments`, bucket: settings.storage.attachmentsBucket, keys: own.attachments },
        { purpose: "backups", tokenName: `${prefix}-r2-backups`, bucket: settings.storage.backupsBucket, keys: own.backups },
    ];
    const pool = settings.storage.reviewPool;
    if (pool) {
        const review = R2_CREDENTIAL_KEYS.review;
        list.push(
            { purpose: "review attachments", tokenName: `${settings.app}-review-r2-attachments`, bucket: pool.attachmentsBucket, keys: review.attachments },
            { purpose: "review backups", tokenName: `${settings.app}-review-r2-backups`, bucket: pool.backupsBucket, keys: review.backups },
        );
    }
    return list;
}

/** The token's one policy, as Cloudflare's API takes it: object read and write on exactly one bucket. */
export const tokenPolicies = (accountId: string, jurisdiction: R2Jurisdiction, bucket: string) => [
    {
        effect: "allow" as const,
        permission_groups: [{ id: R2_BUCKET_ITEM_READ }, { id: R2_BUCKET_ITEM_WRITE }],
        resources: { [r2BucketResource(accountId, jurisdiction, bucket)]: "*" },
    },
];

/** The S3 secret of an R2 token: the SHA-256 hex of its value. */
export const s3SecretFromTokenValue = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

/** What the tool needs of Cloudflare's API (the official client's accounts.tokens, bound to the admin token). */
export interface TokenApi {
    create(name: string, policies: ReturnType<typeof tokenPolicies>): Promise<{ id: string; value: string }>;
    list(): Promise<{ id: string; name: string }[]>;
    remove(id: string): Promise<void>;
}

/**
 * `pulumi config set --secret --stack <stack> <key>` in the project directory (npm run's cwd), with
 * the value on stdin: pulumi/pulumi pkg/cmd/pulumi/config/config.go reads it there when stdin is
 * not a terminal, and removes the trailing newline.
 */
function setSecret(stack: string, key: string, value: string): void {
    const run = spawnSync("pulumi", ["config", "set", "--secret", "--stack", stack, key], { input: `${value}\n`, encoding: "utf8" });
    if (run.error || run.status !== 0) throw new Error(`pulumi config set --secret --stack ${stack} ${key} failed: ${(run.stderr || run.error?.message || "").trim().split("\n")[0]}`);
}

/** Mints and stores every credential of the stack; returns what it did, one line each. */
export async function mint(settings: Settings, api: TokenApi): Promise<string[]> {
    const { accountId } = settings.cloudflare;
    const existing = await api.list();
    const lines: string[] = [];
    for (const credential of credentialsOf(settings)) {
        const older = existing.filter((t) => t.name === credential.tokenName).map((t) => t.id);
        const token = await api.create(credential.tokenName, tokenPolicies(accountId, settings.storage.jurisdiction, credential.bucket));
        setSecret(settings.stack, credential.keys.accessKeyId, token.id);
        setSecret(settings.stack, credential.keys.secretAccessKey, s3SecretFromTokenValue(token.value));
        lines.push(`${credential.purpose}: token ${token.id} (${credential.tokenName}) may read and write ${credential.bucket} alone; set ${credential.keys.accessKeyId} and ${credential.keys.secretAccessKey}`);
        if (older.length > 0) {
            lines.push(`  older ${credential.tokenName} tokens still work: ${older.join(", ")}; once pulumi up --stack ${settings.stack} has deployed the new pair, revoke them: npm run r2-credentials -- --stack ${settings.stack} --revoke ${older.join(" --revoke ")}`);
        }
    }
    return lines;
}

/** Deletes tokens this tool made for the stack, refusing any other. */
export async function revoke(settings: Settings, api: TokenApi, ids: readonly string[]): Promise<string[]> {
    const ours = new Set(credentialsOf(settings).map((c) => c.tokenName));
    const tokens = new Map((await api.list()).map((t) => [t.id, t.name]));
    const lines: string[] = [];
    for (const id of ids) {
        const name = tokens.get(id);
        if (name === undefined || !ours.has(name)) throw new Error(`token ${id} is not one of ${settings.stack}'s R2 tokens (${[...ours].join(", ")}); refusing to delete it`);
        await api.remove(id);
        lines.push(`revoked ${name} token ${id}`);
    }
    return lines;
}

/** The official client (cloudflare/cloudflare-typescript: accounts.tokens), loaded only here. */
async function cloudflareTokens(accountId: string, apiToken: string): Promise<TokenApi> {
    const { default: Cloudflare } = await import("cloudflare");
    const client = new Cloudflare({ apiToken, apiEmail: null, apiKey: null, ...(process.env.CLOUDFLARE_BASE_URL ? { baseURL: process.env.CLOUDFLARE_BASE_URL } : {}) });
    return {
        async create(name, policies) {
            const token = await client.accounts.tokens.create({ account_id: accountId, name, policies });
            if (!token.id || !token.value) throw new Error(`Cloudflare created token ${name} without an id or a value`);
            return { id: token.id, value: token.value };
        },
        async list() {
            const tokens: { id: string; name: string }[] = [];
            for await (const token of client.accounts.tokens.list({ account_id: accountId })) if (token.id && token.name) tokens.push({ id: token.id, name: token.name });
            return tokens;
        },
        async remove(id) {
            await client.accounts.tokens.delete(id, { account_id: accountId });
        },
    };
}

const USAGE = "usage: npm run r2-credentials -- --stack <production|staging> [--revoke <token id>...]";

export async function main(argv: readonly string[], io: { stdout(text: string): void; stderr(text: string): void }): Promise<number> {
    const fail = (message: string, code: number): number => (io.stderr(`r2-credentials: ${message}\n`), code);
    const stacks = argv.flatMap((a, i) => (argv[i - 1] === "--stack" ? [a] : []));
    const revoked = argv.flatMap((a, i) => (argv[i - 1] === "--revoke" ? [a] : []));
    if (stacks.length !== 1 || argv.length !== 2 + 2 * revoked.length) return fail(`expected --stack <name> and any --revoke <id>\n${USAGE}`, 2);
    const [stack] = stacks;
    const { invalidConfigReport, stackConfigFromFiles } = await import("../plan/stack-config");
    // The project as npm run sees it (its cwd): the stack file read here is the one pulumi writes.
    const source = stackConfigFromFiles(process.cwd(), stack);
    const parsed = parseConfig(source, stack);
    if (!parsed.ok) return fail(invalidConfigReport(stack, source.file, parsed.errors), 2);
    if (parsed.settings.kind === "review") return fail(`${stack} is a review stack: review stacks use the review pool's pairs, which staging's run mints (--stack staging)`, 2);
    const adminToken = process.env.CLOUDFLARE_ADMIN_API_TOKEN;
    if (!adminToken) return fail("CLOUDFLARE_ADMIN_API_TOKEN must hold a Cloudflare token with Account API Tokens: Edit (docs/storage.md, \"Credentials\")", 2);
    try {
        const api = await cloudflareTokens(parsed.settings.cloudflare.accountId, adminToken);
        const lines = revoked.length > 0 ? await revoke(parsed.settings, api, revoked) : await mint(parsed.settings, api);
        io.stdout(lines.map((l) => `${l}\n`).join(""));
        return 0;
    } catch (err) {
        return fail((err instanceof Error ? err.message : String(err)).split("\n")[0], 1);
    }
}

// A program when run as `node launch.js admin/r2-credentials`; a module for the tests.
if (require.main === module || require.main?.filename === path.join(PROJECT_ROOT, "launch.js")) {
    main(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then((code) => (process.exitCode = code));
}
