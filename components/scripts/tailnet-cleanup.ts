// Delete-time tailnet device clean-up of one host, run by its Command as DEVICE_CLEANUP_COMMAND
// (relative and stable: `pulumi destroy` replays the command string stored at create time, and
// launch.js rebuilds bin/ when a fresh checkout lacks it). Runs on load, so nothing imports it.
import { deleteHostDevices } from "../../lib/tailnet-devices";

deleteHostDevices(process.env, (line) => process.stdout.write(`${line}\n`)).catch((err: Error) => {
    process.stderr.write(`tailnet clean-up: ${err.message}\n`);
    process.exitCode = 1;
});
