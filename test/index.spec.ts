// index.ts, the file `pulumi up` runs, imported after the mocks are set, exports the stack outputs.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../config/keys";
import { recordingMocks, RecordedInvoke, RecordedResource } from "../plan/mocks";
import { stackConfigFromFiles } from "../plan/run";
import { ROOT } from "./support";

describe("index.ts under mocks", () => {
    it("reads the stack config and exports railsEnv and hostnames", async () => {
        const source = stackConfigFromFiles(ROOT, "production");
        pulumi.runtime.setAllConfig(
            Object.fromEntries(Object.entries(source.values).map(([k, v]) => [`${PROJECT}:${k}`, v])),
            [...source.secretKeys].map((k) => `${PROJECT}:${k}`),
        );
        const resources: RecordedResource[] = [];
        const invokes: RecordedInvoke[] = [];
        await pulumi.runtime.setMocks(recordingMocks(resources, invokes), PROJECT, "production");
        const outputs = await pulumi.runtime.runInPulumiStack(async () => ({ ...(await import("../index")) }));
        assert.ok(outputs);
        assert.strictEqual(outputs.railsEnv, "production");
        assert.deepStrictEqual(outputs.hostnames, ["shop.example.com"]);
        assert.ok(resources.some((r) => r.type === "pulumi:providers:hcloud"));
    });
});
