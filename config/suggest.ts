// Near-miss suggestions for names a user mistyped: config keys, namespaces, stack names.

/**
 * Edit distance with adjacent transpositions (optimal string alignment, the restricted
 * Damerau-Levenshtein distance), ignoring case: "volumesize" → "volumeSize" is 0, "domian" →
 * "domain" is 1.
 */
export function editDistance(a: string, b: string): number {
    const s = a.toLowerCase();
    const t = b.toLowerCase();
    // d[i][j]: distance between the first i chars of s and the first j chars of t.
    const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= s.length; i++) {
        for (let j = 1; j <= t.length; j++) {
            const cost = s[i - 1] === t[j - 1] ? 0 : 1;
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[s.length][t.length];
}

/** Shorter names need closer matches: one edit turns most 3- or 4-letter names into another. */
const maxDistance = (word: string): number => (word.length <= 4 ? 1 : 2);
/** A truncated name ("webServer") still points at its key when it is this long and unambiguous. */
const MIN_PREFIX = 5;

/**
 * The candidate `word` most likely meant, or undefined when none is near: the closest within a
 * small edit distance (earlier candidates win ties), else the only candidate that `word` is a
 * prefix of, or that is a prefix of `word`.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
    let best: { candidate: string; distance: number } | undefined;
    for (const candidate of candidates) {
        const distance = editDistance(word, candidate);
        if (distance <= maxDistance(word) && (best === undefined || distance < best.distance)) best = { candidate, distance };
    }
    if (best) return best.candidate;
    const lower = word.toLowerCase();
    const prefixed = candidates.filter((candidate) => {
        const c = candidate.toLowerCase();
        return Math.min(c.length, lower.length) >= MIN_PREFIX && (c.startsWith(lower) || lower.startsWith(c));
    });
    return prefixed.length === 1 ? prefixed[0] : undefined;
}
