// The price table stays verified: an entry whose verification is older than STALE_AFTER_DAYS fails
// with the line to update, and every billed item the cost model reads has exactly one entry.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ARM_LOCATIONS, ARM_SERVER_TYPES } from "../config/parse";
import { PRICE_TABLE, STALE_AFTER_DAYS } from "../pricing/table";
import { ROOT } from "./support";

const TABLE_FILE = path.join(ROOT, "pricing", "table.ts");
const DAY_MS = 86_400_000;

/** Entries whose verification is older than `maxDays` at `today`, as `pricing/table.ts:<line>: ...` lines. */
function staleEntries(today: Date, maxDays: number, source = fs.readFileSync(TABLE_FILE, "utf8")): string[] {
    const lines = source.split("\n");
    return PRICE_TABLE.flatMap((entry) => {
        const age = Math.floor((today.getTime() - Date.parse(`${entry.verified}T00:00:00Z`)) / DAY_MS);
        if (age <= maxDays) return [];
        const line = lines.findIndex((l) => l.includes(`"${entry.id}"`)) + 1;
        return [`pricing/table.ts:${line}: ${entry.id} was verified ${entry.verified}, ${age} days ago (over ${maxDays}); check ${entry.source} and update its figures and date`];
    });
}

describe("price table", () => {
    it(`has no entry verified more than ${STALE_AFTER_DAYS} days ago`, () => {
        assert.deepStrictEqual(staleEntries(new Date(), STALE_AFTER_DAYS), []);
    });

    it("names the line to update when an entry goes stale", () => {
        const later = new Date(Date.parse("2026-12-01T00:00:00Z") + (STALE_AFTER_DAYS + 1) * DAY_MS);
        const stale = staleEntries(later, STALE_AFTER_DAYS);
        assert.strictEqual(stale.length, PRICE_TABLE.length);
        const lines = fs.readFileSync(TABLE_FILE, "utf8").split("\n");
        const first = /^pricing\/table\.ts:(\d+): hetzner-cax11-new was verified 2026-12-01, 181 days ago \(over 180\); check https:\/\/www\.hetzner\.com/.exec(stale[0]);
        assert.ok(first, stale[0]);
        assert.match(lines[Number(first[1]) - 1], /id: "hetzner-cax11-new"/, "the named line holds the entry");
    });

    it("has unique ids, valid dates and a source for each entry", () => {
        const ids = PRICE_TABLE.map((e) => e.id);
        assert.strictEqual(new Set(ids).size, ids.length);
        for (const entry of PRICE_TABLE) {
            assert.match(entry.verified, /^\d{4}-\d{2}-\d{2}$/, entry.id);
            assert.ok(!Number.isNaN(Date.parse(entry.verified)), entry.id);
            assert.match(entry.source, /^https:\/\//, entry.id);
            assert.ok(entry.evidence.length > 20, `${entry.id}: say what was read`);
        }
    });

    it("prices every server type the config allows, new order and existing, in every allowed location", () => {
        for (const type of ARM_SERVER_TYPES) {
            for (const order of ["new", "existing"]) {
                const entries = PRICE_TABLE.filter((e) => e.item === "server" && e.serverType === type && e.order === order);
                assert.strictEqual(entries.length, 1, `${type} ${order}`);
                const entry = entries[0];
                assert.ok(entry.item === "server" && [...ARM_LOCATIONS].every((l) => entry.locations.includes(l)), `${type} ${order} locations`);
            }
        }
        for (const item of ["primaryIpv4", "volumePerGb", "r2", "usdPerEur", "tailscale"]) {
            assert.strictEqual(PRICE_TABLE.filter((e) => e.item === item).length, 1, item);
        }
    });

    it("keeps each server's hourly price at Hetzner's monthly cap of 624 hours", () => {
        for (const entry of PRICE_TABLE) {
            if (entry.item !== "server") continue;
            assert.strictEqual(entry.eurPerHour, Math.round((entry.eurPerMonth / 624) * 10_000) / 10_000, entry.id);
            // A new order never costs less than the price it replaced (15 June 2026 raised every CAX type).
            if (entry.order === "new") {
                const before = PRICE_TABLE.find((e) => e.item === "server" && e.serverType === entry.serverType && e.order === "existing");
                assert.ok(before && before.item === "server" && before.eurPerMonth < entry.eurPerMonth, entry.id);
            }
        }
    });
});
