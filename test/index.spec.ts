// index.ts, the file `pulumi up` runs, imported after the mocks are set, exports the stack outputs.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { recordingMocks, RecordedResource } from "../plan/mocks";
import { stackConfigFromFiles, useMockedStack } from "../plan/run";
import { ROOT } from "./support";

describe("index.ts under mocks", () => {
    it("reads the stack config and exports railsEnv and hostnames", async () => {
        const resources: RecordedResource[] = [];
        await useMockedStack("production", stackConfigFromFiles(ROOT, "production"), recordingMocks(resources, []));
        const outputs = await pulumi.runtime.runInPulumiStack(async () => ({ ...(await import("../index")) }));
        assert.ok(outputs);
        assert.strictEqual(outputs.railsEnv, "production");
        assert.deepStrictEqual(outputs.hostnames, ["shop.example.com"]);
        assert.ok(resources.some((r) => r.type === "pulumi:providers:hcloud"));
    });
});
