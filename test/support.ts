// Shared test helpers: run the offline plan in-process, find resources, gate external validators.
import { execFileSync } from "child_process";
import * as http from "http";
import type { AddressInfo } from "net";
import * as path from "path";
import type { CommitReader } from "../lib/app-checkout";
import { revealSecrets, runPlan, stackConfigFromFiles } from "../plan/run";
import type { RecordedResource } from "../plan/mocks";

export const ROOT = path.resolve(__dirname, "..");

/** The commit the tests pretend the app's checkout is at: they never read a checkout outside the repo. */
export const TEST_CHECKOUT_COMMIT = "5ca1ab1e0ddba11c0ffee0123456789abcdef012";
export const testCheckout: CommitReader = () => ({ version: TEST_CHECKOUT_COMMIT });

export type OkPlan = Extract<Awaited<ReturnType<typeof runPlan>>, { ok: true }>;

/** The offline plan of a stack from its committed stack file, with raw-string config overrides. */
export async function planFor(stack: string, overrides: Record<string, string> = {}): Promise<OkPlan> {
    const result = await runPlan(stack, stackConfigFromFiles(ROOT, stack, overrides), { readCommit: testCheckout });
    if (!result.ok) throw new Error(`plan for ${stack} failed:\n${result.errors.join("\n")}`);
    return result;
}

export function resourcesOfType(plan: OkPlan, type: string): RecordedResource[] {
    return plan.resources.filter((r) => r.type === type);
}

export function resourceNamed(plan: OkPlan, type: string, name: string): RecordedResource {
    const found = plan.resources.find((r) => r.type === type && r.name === name);
    if (!found) throw new Error(`no ${type} named ${name}; have: ${resourcesOfType(plan, type).map((r) => r.name).join(", ")}`);
    return found;
}

/** A resource's inputs with secrets unwrapped (use isSecretValue on the raw inputs to test secrecy). */
export function plainInputs(resource: RecordedResource): Record<string, unknown> {
    return revealSecrets(resource.inputs) as Record<string, unknown>;
}

/**
 * Whether an external validator (cloud-init, shellcheck, ...) is installed. CI sets
 * REQUIRE_VALIDATORS=1 (.ci/run), which turns a missing one into a failure instead of a skip.
 */
export function haveTool(command: string, versionArgs: string[] = ["--version"]): boolean {
    try {
        execFileSync(command, versionArgs, { stdio: "ignore" });
        return true;
    } catch {
        if (process.env.REQUIRE_VALIDATORS === "1") throw new Error(`${command} is required (REQUIRE_VALIDATORS=1) but not installed`);
        return false;
    }
}

/**
 * Kamal's executable, from RAILS_STACK_KAMAL (the setting the deploy step reads too), or undefined
 * when unset; REQUIRE_VALIDATORS=1 makes its absence a failure instead of a skip.
 */
export function kamalExecutable(): string | undefined {
    const kamal = process.env.RAILS_STACK_KAMAL;
    if (kamal && haveTool(kamal, ["version"])) return kamal;
    if (process.env.REQUIRE_VALIDATORS === "1") throw new Error("RAILS_STACK_KAMAL must name Kamal's executable (REQUIRE_VALIDATORS=1)");
    return undefined;
}

export interface FakeApi {
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    /** Every request as `<method> <path> <authorization> <body>`, trailing blanks trimmed. */
    readonly requests: string[];
    readonly close: () => void;
}

/** A JSON API on loopback that records each request and answers with `answer`'s status and body. */
export async function fakeJsonApi(answer: (method: string, url: string, authorization: string) => [number, unknown]): Promise<FakeApi> {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
            requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""} ${body}`.trimEnd());
            const [status, reply] = answer(req.method!, req.url!, req.headers.authorization ?? "");
            res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(reply));
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => server.close() };
}
