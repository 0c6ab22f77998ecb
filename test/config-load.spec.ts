import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, readRawConfig } from "../config/load";

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
