// mocha's settings for the deploy rehearsal (`npm run rehearsal`, the first half of `npm test`): its
// three parts side by side, each in a worker process of its own, on hosts of its own.
"use strict";

module.exports = {
    require: ["ts-node/register/transpile-only", "./test/rehearsal/records.ts"],
    extension: ["ts"],
    spec: ["test/rehearsal/*.spec.ts"],
    parallel: true,
    jobs: 3,
    timeout: 60000,
    reporter: "./test/summary-reporter.js",
    "reporter-option": ["label=deploy rehearsal"],
};
