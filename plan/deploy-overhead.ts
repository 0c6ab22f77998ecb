// The deploy step's time beyond Kamal's own (issue 17: at most 20%), from the summary line the step
// prints, "deployed ... in <total>s (Kamal: <kamal>s)". The rehearsal records its real deploys'
// summaries under RECORD_DIR; `npm run bench` reads them (a real deploy needs root, Docker and Kamal,
// which the bench does not assume).
import * as fs from "fs";
import * as path from "path";

/** Under the project's out/ (not in git): one file per part of the rehearsal, which run side by side. */
export const RECORD_DIR = path.join("out", "bench", "deploy-overhead");

export interface DeployTiming {
    readonly name: string;
    readonly totalSeconds: number;
    readonly kamalSeconds: number;
}

export interface DeployRecord {
    readonly recorded: string;
    readonly deploys: readonly DeployTiming[];
}

/** The timing in a deploy's summary (its stdout), or undefined when it has none (a failed deploy). */
export function deployTiming(name: string, summary: string): DeployTiming | undefined {
    const match = /^deployed .* in (\d+)s \(Kamal: (\d+)s\)$/m.exec(summary);
    return match ? { name, totalSeconds: Number(match[1]), kamalSeconds: Number(match[2]) } : undefined;
}

export function writeDeployRecord(root: string, part: string, deploys: readonly DeployTiming[], now = new Date()): void {
    const dir = path.join(root, RECORD_DIR);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${part}.json`), `${JSON.stringify({ recorded: now.toISOString(), deploys } satisfies DeployRecord, null, 2)}\n`);
}

/** Every part's record as one, in the parts' name order, dated by the newest; undefined when there is none. */
export function readDeployRecords(root: string): DeployRecord | undefined {
    const dir = path.join(root, RECORD_DIR);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort() : [];
    if (files.length === 0) return undefined;
    const records = files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as DeployRecord);
    return { recorded: records.map((r) => r.recorded).sort().pop()!, deploys: records.flatMap((r) => r.deploys) };
}

/** The bench's table lines: each deploy, then the overhead over Kamal's time summed over all. */
export function overheadLines(record: DeployRecord): string[] {
    const percent = (total: number, kamal: number) => `${(((total - kamal) / kamal) * 100).toFixed(0)}%`;
    const total = record.deploys.reduce((sum, d) => sum + d.totalSeconds, 0);
    const kamal = record.deploys.reduce((sum, d) => sum + d.kamalSeconds, 0);
    return [
        `deploy step overhead over Kamal's own time, from the rehearsal's real deploys (recorded ${record.recorded}; seconds, 1 s resolution)`,
        "| deploy | step s | Kamal s | overhead |",
        "|---|---:|---:|---:|",
        ...record.deploys.map((d) => `| ${d.name} | ${d.totalSeconds} | ${d.kamalSeconds} | ${percent(d.totalSeconds, d.kamalSeconds)} |`),
        `| all | ${total} | ${kamal} | ${percent(total, kamal)} |`,
    ];
}
