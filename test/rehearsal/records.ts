// mocha's global fixture for the rehearsal (./mocharc.js): the deploy timings an earlier run recorded
// go before this run's parts write theirs, so `npm run bench` reads one run (plan/deploy-overhead.ts).
import * as fs from "fs";
import * as path from "path";
import { RECORD_DIR } from "../../plan/deploy-overhead";

export function mochaGlobalSetup(): void {
    fs.rmSync(path.resolve(__dirname, "..", "..", RECORD_DIR), { recursive: true, force: true });
}
