// The admin step that mints R2 credentials (admin/r2-credentials.ts), run as an operator runs it:
// `npm run r2-credentials` in a copy of the project, against a fake of Cloudflare's account-token
// API and the `pulumi` stand-in (test/stand-ins/pulumi.ts, `config set` as config.go does it).
// The fake refuses what Cloudflare refuses (developers.cloudflare.com/api/resources/accounts/
// subresources/tokens): a missing or unknown bearer token, a token without the right to create
// tokens (403, code 9109 "Unauthorized to access requested resource"), a policy without effect,
// permission groups or resources (400).
import * as assert from "assert";
import { execFile } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { credentialsOf, R2_BUCKET_ITEM_READ, R2_BUCKET_ITEM_WRITE, tokenPolicies } from "../admin/r2-credentials";
import { parseConfig } from "../config/parse";
import { stackConfigFromFiles } from "../plan/run";
import { ROOT } from "./support";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ADMIN = "cf-admin-token-with-api-tokens-edit";
/** The routine token: R2 and DNS, but no right to create tokens. */
const ROUTINE = "cf-routine-token-r2-dns-tunnel";

interface Token {
    id: string;
    name: string;
    value: string;
    policies: { effect: string; permission_groups: { id: string }[]; resources: Record<string, string> }[];
}

async function fakeCloudflare(): Promise<{ url: string; tokens: Token[]; requests: string[]; close(): void }> {
    const tokens: Token[] = [];
    const requests: string[] = [];
    let serial = 0;
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            requests.push(`${req.method} ${req.url}`);
            const answer = (status: number, payload: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
            const error = (status: number, code: number, message: string) => answer(status, { success: false, errors: [{ code, message }], messages: [], result: null });
            const bearer = (req.headers.authorization ?? "").replace(/^Bearer /, "");
            if (bearer !== ADMIN && bearer !== ROUTINE) return error(400, 1000, "Invalid API Token");
            const url = new URL(req.url!, "http://x");
            const base = `/client/v4/accounts/${ACCOUNT}/tokens`;
            if (bearer !== ADMIN) return error(403, 9109, "Unauthorized to access requested resource");
            if (req.method === "POST" && url.pathname === base) {
                const { name, policies } = JSON.parse(body) as Partial<Token>;
                const valid = (p: Token["policies"][number]) => ["allow", "deny"].includes(p.effect) && p.permission_groups?.length > 0 && Object.keys(p.resources ?? {}).length > 0;
                if (!name || !Array.isArray(policies) || policies.length === 0 || !policies.every(valid)) return error(400, 400, "Invalid request: a token needs a name and policies with effect, permission groups and resources");
                const token = { id: createHash("md5").update(`id${++serial}`).digest("hex"), name, value: `cfv1-${createHash("sha1").update(`value${serial}`).digest("hex")}`, policies };
                tokens.push(token);
                return answer(200, { success: true, errors: [], messages: [], result: { ...token, status: "active" } });
            }
            if (req.method === "GET" && url.pathname === base) {
                const page = Number(url.searchParams.get("page") ?? 1);
                const perPage = Number(url.searchParams.get("per_page") ?? 20);
                const slice = tokens.slice((page - 1) * perPage, page * perPage).map(({ value: _value, ...t }) => t);
                return answer(200, { success: true, errors: [], messages: [], result: slice, result_info: { page, per_page: perPage, count: slice.length, total_count: tokens.length } });
            }
            const one = url.pathname.startsWith(`${base}/`) ? url.pathname.slice(base.length + 1) : undefined;
            if (req.method === "DELETE" && one) {
                const at = tokens.findIndex((t) => t.id === one);
                if (at < 0) return error(404, 1003, "Token not found");
                tokens.splice(at, 1);
                return answer(200, { success: true, errors: [], messages: [], result: { id: one } });
            }
            return error(404, 7003, "No route for that URI");
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`, tokens, requests, close: () => server.close() };
}

describe("r2-credentials: R2 key pairs minted outside pulumi up", () => {
    let dir: string;
    let cloudflare: Awaited<ReturnType<typeof fakeCloudflare>>;
    const service = () => path.join(dir, "service.json");
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "r2-credentials-"));
        for (const file of ["Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"]) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
        fs.writeFileSync(service(), JSON.stringify({ org: "acme", stacks: { staging: { resources: 0, updates: [] }, production: { resources: 0, updates: [] } } }));
        cloudflare = await fakeCloudflare();
    });
    after(() => {
        cloudflare.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /** `npm run r2-credentials -- <args>` from the project copy, asynchronously (the fake answers from this process). */
    const run = (args: string[], token = ADMIN): Promise<{ status: number; stdout: string; stderr: string; log: string[] }> =>
        new Promise((resolve) => {
            const log = path.join(dir, `pulumi-${Date.now()}.log`);
            const env = {
                PATH: `${path.join(ROOT, "test", "stand-ins", "bin")}:${process.env.PATH}`,
                CLOUDFLARE_ADMIN_API_TOKEN: token,
                CLOUDFLARE_BASE_URL: cloudflare.url,
                PULUMI_ACCESS_TOKEN: "pul-test",
                PULUMI_STANDIN_SERVICE: service(),
                PULUMI_STANDIN_LOG: log,
            };
            execFile(process.execPath, [path.join(ROOT, "launch.js"), "admin/r2-credentials", ...args], { cwd: dir, env, encoding: "utf8" }, (err, stdout, stderr) =>
                resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr, log: fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [] }),
            );
        });
    const stackConfig = (stack: string) => (YAML.parse(fs.readFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> }).config;
    const reveal = (value: unknown): string => Buffer.from((value as { secure: string }).secure.slice(3), "base64").toString("utf8");

    it("each credential may read and write objects of exactly one bucket: the app's reaches the attachments alone, Litestream's the backups alone", () => {
        const parsed = parseConfig(stackConfigFromFiles(ROOT, "staging"), "staging");
        if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
        const credentials = credentialsOf(parsed.settings);
        assert.deepStrictEqual(
            credentials.map((c) => [c.purpose, c.bucket, c.keys.accessKeyId]),
            [
                ["attachments", "shop-staging-attachments", "r2AttachmentsAccessKeyId"],
                ["backups", "shop-staging-backups", "r2BackupsAccessKeyId"],
                ["review attachments", "shop-review-attachments", "reviewR2AttachmentsAccessKeyId"],
                ["review backups", "shop-review-backups", "reviewR2BackupsAccessKeyId"],
            ],
        );
        assert.deepStrictEqual(tokenPolicies(ACCOUNT, "default", "shop-staging-attachments"), [
            { effect: "allow", permission_groups: [{ id: R2_BUCKET_ITEM_READ }, { id: R2_BUCKET_ITEM_WRITE }], resources: { [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_shop-staging-attachments`]: "*" } },
        ]);
    });

    it("mints production's two pairs with the admin token and stores them as secrets, values on stdin, never on a command line", async () => {
        const result = await run(["--stack", "production"]);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(
            cloudflare.tokens.map((t) => [t.name, Object.keys(t.policies[0].resources)]),
            [
                ["shop-production-r2-attachments", [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_shop-production-attachments`]],
                ["shop-production-r2-backups", [`com.cloudflare.edge.r2.bucket.${ACCOUNT}_default_shop-production-backups`]],
            ],
        );
        const config = stackConfig("production");
        const [attachments, backups] = cloudflare.tokens;
        assert.strictEqual(reveal(config["rails-stack:r2AttachmentsAccessKeyId"]), attachments.id);
        assert.strictEqual(reveal(config["rails-stack:r2AttachmentsSecretAccessKey"]), createHash("sha256").update(attachments.value).digest("hex"));
        assert.strictEqual(reveal(config["rails-stack:r2BackupsAccessKeyId"]), backups.id);
        assert.strictEqual(reveal(config["rails-stack:r2BackupsSecretAccessKey"]), createHash("sha256").update(backups.value).digest("hex"));
        const visible = [result.stdout, result.stderr, ...result.log].join("\n");
        for (const token of cloudflare.tokens) {
            assert.ok(!visible.includes(token.value) && !visible.includes(createHash("sha256").update(token.value).digest("hex")), "no secret printed or passed as an argument");
        }
        // Each call names the key and nothing after it: the value went on stdin.
        assert.deepStrictEqual(result.log, ["r2AttachmentsAccessKeyId", "r2AttachmentsSecretAccessKey", "r2BackupsAccessKeyId", "r2BackupsSecretAccessKey"].map((key) => `pulumi config set --secret --stack production ${key}`));
        // The stack file is still one the program accepts: the parser finds every pair it needs.
        assert.ok(parseConfig(stackConfigFromFiles(dir, "production"), "production").ok);
    });

    it("staging's run also mints the review pool's pairs; a second run names the older tokens, and --revoke removes only those", async () => {
        const first = await run(["--stack", "staging"]);
        assert.strictEqual(first.status, 0, first.stderr);
        assert.ok(["reviewR2AttachmentsAccessKeyId", "reviewR2BackupsSecretAccessKey"].every((k) => `rails-stack:${k}` in stackConfig("staging")));
        const older = cloudflare.tokens.find((t) => t.name === "shop-staging-r2-backups")!.id;
        const second = await run(["--stack", "staging"]);
        assert.strictEqual(second.status, 0, second.stderr);
        assert.match(second.stdout, new RegExp(`older shop-staging-r2-backups tokens still work: ${older}; once pulumi up --stack staging has deployed the new pair, revoke them: npm run r2-credentials -- --stack staging --revoke ${older}`));
        const revoked = await run(["--stack", "staging", "--revoke", older]);
        assert.strictEqual(revoked.status, 0, revoked.stderr);
        assert.ok(!cloudflare.tokens.some((t) => t.id === older));
        const production = cloudflare.tokens.find((t) => t.name.startsWith("shop-production-"))!.id;
        const refused = await run(["--stack", "staging", "--revoke", production]);
        assert.strictEqual(refused.status, 1);
        assert.match(refused.stderr, new RegExp(`token ${production} is not one of staging's R2 tokens`));
        assert.ok(cloudflare.tokens.some((t) => t.id === production), "another stack's token stays");
    });

    it("the routine token cannot mint (Cloudflare refuses it), and the tool says so; a review stack is refused", async () => {
        const before = cloudflare.tokens.length;
        const routine = await run(["--stack", "production"], ROUTINE);
        assert.strictEqual(routine.status, 1);
        assert.match(routine.stderr, /^r2-credentials: .*Unauthorized to access requested resource/m);
        assert.strictEqual(cloudflare.tokens.length, before);
        const review = await run(["--stack", "pr-7"]);
        assert.strictEqual(review.status, 2);
        assert.match(review.stderr, /pr-7 is a review stack: review stacks use the review pool's pairs, which staging's run mints \(--stack staging\)/);
        const usage = await run(["--stack"]);
        assert.strictEqual(usage.status, 2);
    });
});
