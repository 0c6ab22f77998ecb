// Mocha's spec reporter plus a closing "N passed, N failed, N skipped" line, the plain summary CI reads.
"use strict";
const Mocha = require("mocha");

class SpecWithSummary extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
            const { passes, failures, pending } = this.stats;
            process.stdout.write(`${passes} passed, ${failures} failed, ${pending} skipped\n`);
        });
    }
}

module.exports = SpecWithSummary;
