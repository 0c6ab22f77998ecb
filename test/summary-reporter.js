// Mocha's spec reporter plus a closing "N passed, N failed, N skipped" line, the plain summary CI reads;
// with the reporter option `label`, the line names the run ("deploy rehearsal: N passed, ...").
"use strict";
const Mocha = require("mocha");

class SpecWithSummary extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        const label = options && options.reporterOptions && options.reporterOptions.label;
        runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
            const { passes, failures, pending } = this.stats;
            process.stdout.write(`${label ? `${label}: ` : ""}${passes} passed, ${failures} failed, ${pending} skipped\n`);
        });
    }
}

module.exports = SpecWithSummary;
