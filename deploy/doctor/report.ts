// What the doctor reports: one problem per line, every problem at once, in a stable order.

/** One problem: the file (or image), the 1-based line when there is one, and what is wrong and what to do. */
export interface DoctorProblem {
    readonly file: string;
    readonly line?: number;
    readonly message: string;
}

/** Collects problems; checks never throw on bad input, so a user sees all of them at once. */
export class Report {
    readonly problems: DoctorProblem[] = [];
    add(file: string, line: number | undefined, message: string): void {
        this.problems.push(line === undefined ? { file, message } : { file, line, message });
    }
    /** Sorted by file, then line; code-point order, the same on every machine whatever its locale. */
    sorted(): DoctorProblem[] {
        const byFile = (a: DoctorProblem, b: DoctorProblem): number => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
        return [...this.problems].sort((a, b) => byFile(a, b) || (a.line ?? 0) - (b.line ?? 0));
    }
}

/** "file:line: message", or "file: message" when the problem has no line. */
export function formatProblem(p: DoctorProblem): string {
    return `${p.file}${p.line === undefined ? "" : `:${p.line}`}: ${p.message}`;
}
