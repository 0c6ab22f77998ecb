// Go's time.ParseDuration syntax (what Litestream reads): one or more <number><unit> terms.
const UNIT_MS: Readonly<Record<string, number>> = {
    ns: 1e-6,
    us: 1e-3,
    "µs": 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
};
const TERM = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;

/** Milliseconds of a Go duration string, or undefined when it is not one. */
export function goDurationMs(text: string): number | undefined {
    if (text === "0") return 0;
    TERM.lastIndex = 0;
    let total = 0;
    let match: RegExpExecArray | null;
    while ((match = TERM.exec(text)) !== null) {
        total += Number(match[1]) * UNIT_MS[match[2]];
        if (TERM.lastIndex === text.length) return total;
    }
    return undefined;
}
