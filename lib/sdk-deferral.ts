// Pulumi's SDK index loads its function serializer's tools at import (runtime/index.js requires
// runtime/closure/*): the TypeScript compiler and npm's Arborist with normalize-package-data, about
// half a second of every preview's start-up, for serializeFunction and computeCodePaths (dynamic
// providers, Lambda-style callbacks), which this program never calls. launch.js installs this
// before the program loads the SDK, so each of those modules loads on first use instead.
import Module = require("module");
import * as path from "path";

/** What the SDK's serializer requires at import, by the file that requires it (SDK 3.x layout). */
export const DEFERRED_REQUIRES: ReadonlyArray<{ readonly from: string; readonly request: string }> = [
    { from: "runtime/closure/parseFunction.js", request: "../../typescript-shim" },
    { from: "runtime/closure/codePaths.js", request: "@npmcli/arborist" },
    { from: "runtime/closure/codePaths.js", request: "normalize-package-data" },
];

/** Node's loader entry point: not in @types/node, stable since Node 0.x (lib/internal/modules/cjs/loader.js). */
type ModuleLoader = (this: unknown, request: string, parent: NodeJS.Module | undefined, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: ModuleLoader };

/**
 * A stand-in that loads `load()` on first touch and then behaves as the module does through
 * TypeScript's CommonJS interop, which is how the SDK's compiled code consumes it (`__importStar`,
 * `__importDefault`): it reports `__esModule`, so the interop helpers hand it back without
 * reading the module, and `default` is the module itself when the module has no default of its own.
 */
function deferredModule(load: () => unknown): object {
    let loaded: Record<PropertyKey, unknown> | undefined;
    const real = (): Record<PropertyKey, unknown> => (loaded ??= load() as Record<PropertyKey, unknown>);
    return new Proxy(
        {},
        {
            get: (_, key) => {
                if (key === "__esModule") return true;
                const module = real();
                return key === "default" && !module.__esModule ? module : Reflect.get(module, key);
            },
            has: (_, key) => key === "__esModule" || Reflect.has(real(), key),
            ownKeys: () => Reflect.ownKeys(real()),
            getOwnPropertyDescriptor: (_, key) => {
                const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
                // The stand-in's own target has no such property, so a proxy may only report it as configurable.
                return descriptor && { ...descriptor, configurable: true };
            },
        },
    );
}

let installed = false;

/** Defers the serializer's tools for every later load of the SDK in this process. Idempotent. */
export function deferSerializerTools(): void {
    if (installed) return;
    installed = true;
    const sdkRoot = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
    const deferred = new Set(DEFERRED_REQUIRES.map(({ from, request }) => `${path.join(sdkRoot, from)}\0${request}`));
    const load = loader._load;
    loader._load = function (request, parent, isMain) {
        if (parent?.filename && deferred.has(`${parent.filename}\0${request}`)) {
            return deferredModule(() => load.call(this, request, parent, isMain));
        }
        return load.call(this, request, parent, isMain);
    };
}
