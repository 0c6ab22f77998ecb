// Gemfile.lock: the gem versions the image installs (`COPY Gemfile Gemfile.lock`, `bundle install`).
import { interpret } from "@snyk/gemfile";
import { gte } from "@snyk/ruby-semver";

export type LockedGems = ReadonlyMap<string, string>;

/** Locked gem versions by name; a platform suffix (`1.18.1-aarch64-linux-gnu`) is dropped. */
export function lockedGems(text: string): LockedGems {
    const specs = interpret(text, true).specs ?? {};
    const gems = new Map<string, string>();
    for (const [name, spec] of Object.entries(specs)) {
        if (typeof spec.version === "string") gems.set(name, spec.version.replace(/-[a-z].*$/, ""));
    }
    return gems;
}

/** RubyGems' ordering (prereleases before their release): `version >= minimum`. */
export const atLeast = (version: string, minimum: string): boolean => gte(version, minimum);
