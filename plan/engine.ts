// What the offline plan reads from the Pulumi runtime beyond its Mocks interface: each
// registration as the engine receives it, and the program's first error.

/** The parts of the runtime's RegisterResourceRequest (proto/resource_pb.js) the plan reads. */
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
    getPropertydependenciesMap(): { forEach(f: (deps: { getUrnsList(): string[] }, key: string) => void): void };
}
interface Monitor {
    registerResource(req: RegisterRequest, callback: (...args: unknown[]) => void): void;
}

// Draining the runtime's RPC queue, reaching the (mock) monitor and dropping its leak report are
// only exposed by these functions, marked @internal (so absent from the typings); every plan, and
// test/plan.spec.ts and test/capacity.spec.ts by name, fail if an SDK update removes them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const { waitForRPCs, getMonitor } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void>; getMonitor: () => Monitor };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { leakedPromises } = require("@pulumi/pulumi/runtime/debuggable") as { leakedPromises: () => unknown };

/** A registration as the engine receives it, which the Mocks interface does not show. */
export interface EngineRegistration {
    /** The parent's name, null for a child of the stack. */
    readonly parent: string | null;
    /** Inputs with each secret wrapped where it is, not lifted to its top-level property. */
    readonly inputs: Record<string, unknown>;
    readonly dependencies: Readonly<Record<string, readonly string[]>>;
}

const urnName = (urn: string): string => urn.slice(urn.lastIndexOf("::") + 2);

/**
 * Records each registration as the engine receives it. Pulumi's mock monitor hands the Mocks
 * deserialized inputs whose secrecy is pushed up to the top-level property (runtime/rpc.js
 * deserializeProperty), so a Command's environment with one secret value would read as secret as a
 * whole; the request itself carries each secret where it is, and each input's dependencies.
 */
export function recordRegistrations(into: Map<string, EngineRegistration>): void {
    const monitor = getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
        const dependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((deps, key) => {
            const names = deps.getUrnsList().map(urnName);
            if (names.length > 0) dependencies[key] = [...new Set(names)].sort();
        });
        const object = req.getObject();
        const inputs = object?.toJavaScript() ?? {};
        // The mock monitor converts the same struct again (deserializeProperties); once is enough.
        if (object) object.toJavaScript = () => inputs;
        // The stack itself is no parent worth naming: its children are top-level.
        const parent = req.getParent() && !req.getParent().includes("::pulumi:pulumi:Stack::") ? urnName(req.getParent()) : null;
        into.set(`${req.getType()}::${req.getName()}`, { parent, inputs, dependencies });
        register(req, callback);
    };
}

/**
 * Runs `body`, failing with the program's first error. An error inside an apply (the capacity
 * check's RunError, components/capacity.ts) reaches the runtime as an unhandled rejection and
 * leaves the outputs that depend on it unresolved, so without this the plan would wait forever.
 * Other listeners (a test runner's) are set aside meanwhile; the runtime's own leak report of
 * the abandoned promises is dropped with them.
 */
export async function failingOnProgramError<T>(body: () => Promise<T>): Promise<T> {
    const others = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    let onError: (err: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (onError = reject));
    process.on("unhandledRejection", onError);
    try {
        return await Promise.race([body(), failed]);
    } catch (err) {
        leakedPromises();
        throw err;
    } finally {
        process.removeListener("unhandledRejection", onError);
        for (const listener of others) process.on("unhandledRejection", listener);
    }
}

