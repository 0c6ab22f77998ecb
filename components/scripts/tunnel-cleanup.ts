// Delete-time clean-up of the stack tunnel's connections, run by the edge's Command as
// TUNNEL_CLEANUP_COMMAND (relative and stable: `pulumi destroy` replays the command string stored
// at create time, and launch.js rebuilds bin/ when a fresh checkout lacks it). Runs on load, so
// nothing imports it. It prints the tunnel id only, never the token.
import { cleanTunnelConnections } from "../../lib/tunnel-connections";

cleanTunnelConnections(process.env, (line) => process.stdout.write(`${line}\n`)).catch((err: Error) => {
    process.stderr.write(`tunnel clean-up: ${err.message}\n`);
    process.exitCode = 1;
});
