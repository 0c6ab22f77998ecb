// mocha's settings for `npm test` after the deploy rehearsal (test/rehearsal/mocharc.js, which runs
// first and alone: its deploys wait on clocks that these files' CPU-bound work would stretch). Spec
// files run in parallel worker processes, one file at a time each: three on this project's 2-core
// machines keep both cores busy while a worker waits on a child process.
"use strict";

module.exports = {
    require: ["ts-node/register/transpile-only"],
    extension: ["ts"],
    spec: ["test/*.spec.ts"],
    parallel: true,
    jobs: 3,
    timeout: 60000,
    reporter: "./test/summary-reporter.js",
};
