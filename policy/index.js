// Entry point of the policy pack (PulumiPolicy.yaml `main`). The pack is TypeScript compiled with the
// program into bin/ by launch.js, which compiles only when a source is newer than the last build.
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");

// Its output goes to stderr: a plugin's stdout is Pulumi's handshake channel (it reads the port there).
execFileSync(process.execPath, [path.join(__dirname, "..", "launch.js")], { stdio: ["ignore", 2, 2] });
require(path.join(__dirname, "..", "bin", "policy", "pack.js"));
