import * as assert from "assert";
import { parseConfig } from "../config/parse";
import { hetznerLabels, hostName, stackPrefix } from "../lib/naming";
import { PROJECT } from "../config/keys";
import { stagingRaw } from "./staging-config";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HETZNER_LABEL_VALUE = /^([a-z0-9A-Z]([-_.a-z0-9A-Z]{0,61}[a-z0-9A-Z])?)?$/;
const R2_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

const APPS = ["ab", "shop", "a-twenty-char-app-nm"];
const STACKS = ["production", "staging", "pr-1", "pr-42", "pr-999999"];

function storageNames(app: string, stack: string): string[] {
    const result = parseConfig(stagingRaw({ app }), stack);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    return [result.settings.storage.backupsBucket, result.settings.storage.attachmentsBucket, ...result.settings.hostnames];
}

describe("naming", () => {
    it("keeps every server (= Tailscale host) name a valid DNS label within 63 chars", () => {
        for (const app of APPS) {
            for (const stack of STACKS) {
                const name = hostName({ app, stack });
                assert.match(name, DNS_LABEL, name);
            }
        }
    });

    it("never gives two stacks of one app the same physical name; review stacks share only the review pool, under their own prefix", () => {
        for (const app of APPS) {
            const owner = new Map<string, string>();
            for (const stack of STACKS) {
                const [backups, attachments, ...hostnames] = storageNames(app, stack);
                const review = stack.startsWith("pr-");
                // The pool is staging's; each review stack's replicas live under `<stack>/` in it (renderers/litestream.ts).
                if (review) assert.deepStrictEqual([backups, attachments], [`${app}-review-backups`, `${app}-review-attachments`]);
                const names = [stackPrefix({ app, stack }), hostName({ app, stack }), ...hostnames, ...(review ? [] : [backups, attachments])];
                for (const name of names) {
                    assert.ok(!owner.has(name) || owner.get(name) === stack, `${name} used by ${owner.get(name)} and ${stack}`);
                    owner.set(name, stack);
                }
            }
        }
    });

    it("derives bucket names within R2's rules", () => {
        for (const app of APPS) {
            for (const stack of STACKS) {
                for (const bucket of storageNames(app, stack).slice(0, 2)) assert.match(bucket, R2_BUCKET, bucket);
            }
        }
    });

    it("labels Hetzner resources with values Hetzner accepts", () => {
        const labels = hetznerLabels({ project: PROJECT, app: "a-twenty-char-app-nm", stack: "pr-999999" });
        assert.deepStrictEqual(labels, { app: "a-twenty-char-app-nm", stack: "pr-999999", "managed-by": PROJECT });
        for (const value of Object.values(labels)) assert.match(value, HETZNER_LABEL_VALUE);
    });
});
