import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadConfig, readRawConfig } from "../config/load";
import { parseConfig } from "../config/parse";
import { readCheckoutCommit, resolveAppVersion } from "../lib/app-checkout";
import { stagingRaw } from "./staging-config";

describe("config: reading Pulumi's runtime config", () => {
    afterEach(() => pulumi.runtime.setAllConfig({}, []));

    it("sees which keys the stack stores encrypted (internal SDK function still present)", () => {
        pulumi.runtime.setAllConfig({ "rails-stack:app": "shop", "rails-stack:hcloudToken": "t", "aws:region": "x" }, ["rails-stack:hcloudToken"]);
        const raw = readRawConfig();
        assert.deepStrictEqual(raw.values, { app: "shop", hcloudToken: "t" });
        assert.deepStrictEqual([...raw.secretKeys], ["hcloudToken"]);
    });

    it("hands every other namespace's keys to the parser, with their secrecy", () => {
        pulumi.runtime.setAllConfig({ "rails-stack:app": "shop", "aws:region": "x", "hcloud:token": "t" }, ["hcloud:token"]);
        assert.deepStrictEqual(readRawConfig().otherNamespaces, { "aws:region": { value: "x", secret: false }, "hcloud:token": { value: "t", secret: true } });
    });

    it("refuses a key of an unknown namespace at run time as the offline plan does", async () => {
        pulumi.runtime.setAllConfig({ "rails_stack:volumeSize": "20", "pulumi:template": "rails" }, []);
        await pulumi.runtime.setMocks({ newResource: () => assert.fail("no resource may be created"), call: () => assert.fail("no invoke") }, "rails-stack", "staging");
        assert.throws(loadConfig, (err: unknown) => {
            assert.match((err as Error).message, /^invalid stack config:\n {2}rails_stack:volumeSize: unknown namespace "rails_stack"; did you mean rails-stack:volumeSize\?\n/);
            assert.doesNotMatch((err as Error).message, /pulumi:template/);
            return true;
        });
    });

    it("stops with a RunError listing every problem, which Pulumi prints without a stack trace", async () => {
        pulumi.runtime.setAllConfig({ "rails-stack:app": "Shop", "rails-stack:hcloudToken": "t" }, []);
        await pulumi.runtime.setMocks({ newResource: () => assert.fail("no resource may be created"), call: () => assert.fail("no invoke") }, "rails-stack", "staging");
        assert.throws(loadConfig, (err: unknown) => {
            assert.ok(pulumi.RunError.isInstance(err));
            const message = (err as Error).message;
            assert.match(message, /^invalid stack config:\n {2}rails-stack:/);
            assert.match(message, /\n {2}rails-stack:app: "Shop" is not a valid service name/);
            assert.match(message, /\n {2}rails-stack:appDir: is required and missing; set it with: pulumi config set appDir <value>/);
            assert.match(message, /\n {2}rails-stack:hcloudToken: is stored in plain text/);
            assert.match(message, /\n {2}rails-stack:domain: is required and missing/);
            return true;
        });
    });
});

describe("config: the app's version from its checkout (git, beside the program)", () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "checkout-"))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const git = (...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" }).trim();

    it("is the commit checked out in appDir, the same git rev-parse names", async () => {
        git("init", "-q");
        git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first");
        assert.deepStrictEqual(await readCheckoutCommit(dir), { version: git("rev-parse", "HEAD") });
        assert.match(git("rev-parse", "HEAD"), /^[0-9a-f]{40}$/);
    });

    it("names appDir and appVersion for a directory that is no checkout", async () => {
        const plain = path.join(dir, "..", `${path.basename(dir)}-plain`);
        fs.mkdirSync(plain);
        try {
            assert.deepStrictEqual(await readCheckoutCommit(plain), {
                problem: `cannot read the app's commit in ${plain} (rails-stack:appDir): not an existing git checkout with a commit; fix appDir or set rails-stack:appVersion`,
            });
        } finally {
            fs.rmdirSync(plain);
        }
    });

    it("says git is missing when it is not on PATH", async () => {
        const saved = process.env.PATH;
        process.env.PATH = path.join(dir, "no-such-bin");
        try {
            const read = await readCheckoutCommit(dir);
            assert.ok("problem" in read && /^cannot read the app's commit: git is not installed \(.*ENOENT.*\); set rails-stack:appVersion$/.test(read.problem), JSON.stringify(read));
        } finally {
            process.env.PATH = saved;
        }
    });

    it("is appVersion without running git when appVersion is set", async () => {
        const parsed = parseConfig(stagingRaw({ appVersion: "v7", appDir: "../nowhere" }), "staging");
        assert.ok(parsed.ok);
        const never = () => assert.fail("no checkout is read");
        assert.deepStrictEqual(await resolveAppVersion(parsed.settings.deploy, never), { version: "v7" });
    });
});
