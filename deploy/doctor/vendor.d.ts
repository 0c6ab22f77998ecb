// Types for the parts of untyped packages the doctor uses.

declare module "@snyk/gemfile" {
    /** A Gemfile.lock as JSON (github.com/snyk/gemfile): `specs` maps each locked gem to its version. */
    interface Lockfile {
        readonly specs?: Readonly<Record<string, { readonly version?: string }>>;
    }
    export function interpret(text: string, includeSpecs: true): Lockfile;
}
