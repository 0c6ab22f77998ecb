// The stack's monthly cost: the Litestream request model against counts worked out by hand from
// Litestream v0.3.13's code (pricing/litestream-ops.ts), and totals that move exactly as the bill
// would when volumeSize, webServerType, publicIpv4 or a sync interval change.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseConfig } from "../config/parse";
import { planCost } from "../plan/cost";
import { stackConfigFromFiles } from "../plan/run";
import { MONTH_HOURS, StackCost, tablePrices } from "../pricing/cost";
import { replicaRequests, replicaSchedules } from "../pricing/litestream-ops";
import { PRICE_TABLE } from "../pricing/table";
import { planFor, ROOT } from "./support";

const price = (id: string): number => {
    const entry = PRICE_TABLE.find((e) => e.id === id);
    if (!entry || !("eurPerMonth" in entry)) throw new Error(id);
    return entry.eurPerMonth;
};
const costOf = async (stack: string, overrides: Record<string, string> = {}): Promise<StackCost> => planCost(await planFor(stack, overrides), tablePrices());
const line = (cost: StackCost, item: string) => cost.lines.find((l) => l.item === item);
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

describe("cost: Litestream's R2 requests", () => {
    const replica = (settings: string) => `dbs:\n  - path: /rails/storage/x.sqlite3\n    replicas:\n      - type: s3\n${settings}`;

    it("reads sync-interval, retention and snapshot-interval, with Litestream 0.3.13's defaults where absent", () => {
        assert.deepStrictEqual(replicaSchedules(replica("        bucket: b\n")), [
            { database: "x.sqlite3", syncInterval: "1s", retention: "24h", snapshotInterval: null, retentionCheckInterval: "1h" },
        ]);
        assert.deepStrictEqual(replicaSchedules(replica("        sync-interval: 60s\n        retention: 720h\n        snapshot-interval: 24h\n")), [
            { database: "x.sqlite3", syncInterval: "60s", retention: "720h", snapshotInterval: "24h", retentionCheckInterval: "1h" },
        ]);
        assert.deepStrictEqual(replicaSchedules("dbs: []\n"), []);
    });

    it("counts a busy and an idle month as worked out by hand", () => {
        // 1s sync, 24h retention, no snapshot-interval, 720 h: 2,592,000 WAL PUTs; 60 snapshot PUTs and
        // deletions (one per retention period); 720 checks x (2 generation + 2 snapshot lists + 87 WAL
        // pages of 86,400 segments); 2,592 DeleteObjects batches.
        const [schedule] = replicaSchedules(replica("        sync-interval: 1s\n        retention: 24h\n"));
        const month = replicaRequests(schedule, MONTH_HOURS);
        assert.deepStrictEqual(month.busy, { classA: 2_592_000 + 60 + 720 * 91 + 2_592, classB: 0 });
        assert.deepStrictEqual(month.idle, { classA: 60 + 720 * 5, classB: 0 });
        // A snapshot every hour: 2 x 720 snapshot requests instead of 60.
        const [hourly] = replicaSchedules(replica("        sync-interval: 1s\n        retention: 24h\n        snapshot-interval: 1h\n"));
        assert.strictEqual(replicaRequests(hourly, MONTH_HOURS).idle.classA, 1440 + 720 * 5);
        // A retention shorter than the hourly check is checked at the retention: 1,440 checks.
        const [short] = replicaSchedules(replica("        sync-interval: 10s\n        retention: 30m\n"));
        assert.strictEqual(replicaRequests(short, MONTH_HOURS).idle.classA, (2 * 2_592_000) / 1800 + 1440 * 5);
    });

    it("refuses a duration Litestream could not read, naming the database", () => {
        const [bad] = replicaSchedules(replica("        sync-interval: soon\n"));
        assert.throws(() => replicaRequests(bad, MONTH_HOURS), /x\.sqlite3 sync-interval: "soon" is not a positive Go duration/);
    });
});

describe("cost of the committed stacks", () => {
    let staging: StackCost;
    before(async () => {
        staging = await costOf("staging");
    });

    it("prices one line per billed item and a total that is their sum", () => {
        assert.deepStrictEqual(
            staging.lines.map((l) => l.item),
            ["server", "primaryIpv4", "volume", "r2Storage", "r2Operations"],
        );
        close(line(staging, "server")!.eurPerMonth, price("hetzner-cax11-new"), "cax11 at the new-order price");
        assert.strictEqual(staging.existingServerEurPerMonth, price("hetzner-cax11-existing"));
        close(line(staging, "volume")!.eurPerMonth, 10 * price("hetzner-volume-per-gb"), "10 GB volume");
        close(line(staging, "r2Storage")!.eurPerMonth, (10 * 0.015) / 1.1637, "10 GB in R2, converted at the table's rate");
        close(staging.total.upperBound, staging.lines.reduce((n, l) => n + l.eurPerMonth, 0), "total");
        assert.ok(staging.total.idle < staging.total.upperBound);
        assert.strictEqual(staging.review, null);
    });

    it("moves by 100 x the volume price for +100 GB", async () => {
        close((await costOf("staging", { volumeSize: "110" })).total.upperBound - staging.total.upperBound, 100 * price("hetzner-volume-per-gb"), "+100 GB");
    });

    it("rises from cax11 to cax21 by the difference of their new-order prices", async () => {
        const cax21 = await costOf("staging", { webServerType: "cax21" });
        close(cax21.total.upperBound - staging.total.upperBound, price("hetzner-cax21-new") - price("hetzner-cax11-new"), "cax21");
    });

    it("falls by the IPv4 price without a public IPv4", async () => {
        const noIpv4 = await costOf("staging", { publicIpv4: "false" });
        close(staging.total.upperBound - noIpv4.total.upperBound, price("hetzner-primary-ipv4"), "no IPv4");
        assert.ok(!noIpv4.lines.some((l) => l.item === "primaryIpv4"));
    });

    it("moves with a sync interval by the Class A requests it saves", async () => {
        const slower = await costOf("staging", { litestreamDatabases: JSON.stringify(["primary=10s/720h"]) });
        const primary = (c: StackCost) => c.litestream.find((d) => d.database === "staging.sqlite3")!;
        // 10s sync over 720 h retention: 259,200 PUTs, 60 snapshot requests (a daily snapshot: its PUT
        // and, a retention later, its delete), 720 x (4 + 260 pages), 260 batches.
        assert.strictEqual(primary(slower).busyClassA, 259_200 + 60 + 720 * 264 + 260);
        assert.strictEqual(primary(staging).busyClassA, 2_592_000 + 60 + 720 * 2596 + 2_592);
        const saved = primary(staging).busyClassA - primary(slower).busyClassA;
        close(staging.total.upperBound - slower.total.upperBound, (saved * 4.5) / 1e6 / 1.1637, "R2 Class A saved");
        close(slower.total.idle, staging.total.idle, "an idle database costs the same at any sync interval");
    });

    it("prices the production stack's own type and volume, and a review stack per hour and lifetime", async () => {
        const production = await costOf("production");
        close(line(production, "server")!.eurPerMonth, price("hetzner-cax21-new"), "production runs cax21");
        close(line(production, "volume")!.eurPerMonth, 40 * price("hetzner-volume-per-gb"), "40 GB");
        const review = await costOf("pr-7");
        assert.ok(review.review);
        close(review.review.eurPerHour, review.lines.reduce((n, l) => n + l.eurPerHour, 0), "hourly");
        close(review.review.eur, review.review.eurPerHour * 72, "72 h, below every monthly cap");
        assert.match(review.notes.join("\n"), /ephemeral, so about 4320 minutes over 72 h against the plan's 1000 ephemeral minutes a month/);
    });

    it("takes the assumed R2 storage from r2StoredGb, and refuses a bad value naming the key", async () => {
        close(line(await costOf("staging", { r2StoredGb: "110" }), "r2Storage")!.eurPerMonth, (110 * 0.015) / 1.1637, "110 GB");
        const source = stackConfigFromFiles(ROOT, "staging", { r2StoredGb: "lots" });
        const parsed = parseConfig(source, "staging");
        assert.ok(!parsed.ok && parsed.errors.includes('rails-stack:r2StoredGb: "lots" is not a whole number; allowed: 0 to 1000000'), JSON.stringify(parsed));
    });
});

describe("cost in the plan's output", () => {
    let tmp: string;
    before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cost-plan-"))));
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    it("prints the monthly total and one line per item, and writes cost.json", () => {
        const out = path.join(tmp, "staging");
        const run = spawnSync(process.execPath, [path.join(ROOT, "launch.js"), "plan/cli", "--stack", "staging", "--out", out, "--set", "appVersion=v1", "--set", "volumeSize=110"], {
            encoding: "utf8",
            cwd: ROOT,
        });
        assert.strictEqual(run.status, 0, run.stderr);
        const written = JSON.parse(fs.readFileSync(path.join(out, "cost.json"), "utf8")) as StackCost;
        assert.match(run.stdout, /prices: pricing\/table\.ts \(no Hetzner token/);
        assert.match(run.stdout, new RegExp(`\\n    total +${written.total.upperBound.toFixed(2)} \\(all databases idle: ${written.total.idle.toFixed(2)}\\)\\n`));
        for (const l of written.lines) assert.ok(run.stdout.includes(l.label), `${l.label} printed`);
        assert.match(run.stdout, /volume 110 GB +6\.29\n/);
        assert.match(
            run.stdout,
            /\n {2}capacity: pulumi preview and up stop before ordering the server unless Hetzner reports cax11 orderable in fsn1 \(components\/capacity\.ts; offline the mocks report it orderable; npm run capacity -- --stack staging asks Hetzner now\)\n/,
            "offline, the plan says the check runs at preview",
        );
    });
});
