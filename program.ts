// The whole stack as one function of the typed config, so `pulumi up` (index.ts), the offline plan
// and the tests all build the very same graph.
import * as pulumi from "@pulumi/pulumi";
import { Providers } from "./components/providers";
import type { StackConfig } from "./config/load";
import { stackPrefix } from "./lib/naming";

export interface StackResult {
    /** Stack outputs, exported by index.ts. */
    readonly outputs: Readonly<Record<string, pulumi.Output<unknown>>>;
    /** Rendered files keyed by relative path: the exact inputs the resources receive. */
    readonly artifacts: Readonly<Record<string, pulumi.Output<string>>>;
}

export function createStack({ settings, secrets }: StackConfig): StackResult {
    const name = stackPrefix(settings);
    const providers = new Providers(name, { settings, secrets });
    const outputs: Record<string, pulumi.Output<unknown>> = {
        stack: pulumi.output(settings.stack),
        railsEnv: pulumi.output(settings.railsEnv),
        hostnames: pulumi.output([...settings.hostnames]),
    };
    const artifacts: Record<string, pulumi.Output<string>> = {};
    void providers; // TEMPORARY until the first component takes providers.options; delete this line then.

    // --- edge (issue 4) ---
    // --- end edge ---

    // --- storage (issue 5) ---
    // --- end storage ---

    // --- hosts (issue 3) ---
    // --- end hosts ---

    return { outputs, artifacts };
}
