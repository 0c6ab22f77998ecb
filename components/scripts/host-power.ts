// The host's power steps around an update that powers the server off, run by the Commands of
// components/host-power.ts as `node launch.js components/scripts/host-power <stop|start>` (relative
// and stable: Pulumi stores the command string). Runs on load, so nothing imports this file. It
// prints server names and states only, never the token.
import { requiredEnv } from "../../lib/env";
import { fetchServer, fetchServerByName, hetznerEndpoint, serverAction } from "../../lib/hcloud-api";
import { HcloudClient, HOST_POWER_ENV, startAfterChange, stopBeforeChange, Waiting } from "../../lib/host-power";

const env = process.env;
const seconds = (name: string, fallback: number): number => Number(env[name] ?? fallback);

async function main(step: string | undefined): Promise<string> {
    const token = requiredEnv(env, HOST_POWER_ENV.token);
    const endpoint = hetznerEndpoint(env);
    const client: HcloudClient = {
        serverByName: (name) => fetchServerByName(name, token, endpoint),
        server: (id) => fetchServer(id, token, endpoint),
        powerAction: (id, action) => serverAction(id, action, token, endpoint),
    };
    const waiting: Waiting = {
        timeoutSeconds: seconds(HOST_POWER_ENV.waitSeconds, 300),
        pollSeconds: seconds(HOST_POWER_ENV.pollSeconds, 5),
        sleep: (s) => new Promise((resolve) => setTimeout(resolve, s * 1000)),
    };
    const log = (line: string): void => void process.stderr.write(`host-power: ${line}\n`);
    const name = requiredEnv(env, HOST_POWER_ENV.server);
    if (step === "stop") {
        const target = { name, serverType: requiredEnv(env, HOST_POWER_ENV.serverType), publicIpv4: requiredEnv(env, HOST_POWER_ENV.publicIpv4) === "true" };
        return stopBeforeChange(client, target, waiting, log);
    }
    if (step === "start") return startAfterChange(client, name, waiting, log);
    throw new Error(`unknown step ${JSON.stringify(step)}; allowed: stop, start`);
}

main(process.argv[2]).then(
    (summary) => process.stdout.write(`${summary}\n`),
    (err: Error) => {
        process.stderr.write(`host-power: ${err.message}\n`);
        process.exitCode = 1;
    },
);
