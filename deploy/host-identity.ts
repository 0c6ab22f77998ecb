// Which tailnet device is the stack's host, by what Tailscale itself says (`tailscale status
// --json`, ipnstate.Status): the online peer with the host's name AND every one of the stack's
// tags. Tags are granted only through the tailnet policy's tagOwners, so a device that merely
// claims the name (while the real host is away: a first `up`, a replacement) does not qualify and
// gets nothing. Its SSH host keys come from the same answer (PeerStatus `sshHostKeys`), so the
// deploy step pins them before the first connection instead of trusting whatever answers.
//
// `node launch.js deploy/host-identity --host <name> --tags <a,b> --known-hosts <file> --wait <s>`
// polls until the host is there (or the wait is over), writes its keys to <file> as
// `<name> <key>` lines (read with HostKeyAlias <name>), and prints its tailnet IPv4 address.
// Exit 0 found, 1 not found in time, 2 unusable (no tailscale, this machine not on the tailnet,
// two devices that both qualify).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../lib/project";

/** The parts of ipnstate.PeerStatus used here (tailscale ipn/ipnstate/ipnstate.go). */
export interface TailscalePeer {
    readonly ID?: string;
    readonly HostName?: string;
    readonly DNSName?: string;
    readonly TailscaleIPs?: readonly string[];
    readonly Tags?: readonly string[] | null;
    readonly Online?: boolean;
    readonly Expired?: boolean;
    readonly sshHostKeys?: readonly string[];
}

export interface TailscaleStatus {
    readonly BackendState?: string;
    readonly Peer?: Readonly<Record<string, TailscalePeer>> | null;
}

export interface VerifiedHost {
    readonly id: string;
    readonly address: string;
    readonly hostKeys: readonly string[];
}

export type HostLookup = { readonly host: VerifiedHost } | { readonly waiting: string } | { readonly refused: string };

/** The device's own name: MagicDNS gives a second device with a taken name a "-1" suffix. */
const shortName = (peer: TailscalePeer): string => (peer.DNSName ?? "").split(".")[0].toLowerCase();

/** The stack's host in a status answer, or why there is none (yet). */
export function findHost(status: TailscaleStatus, hostname: string, tags: readonly string[]): HostLookup {
    if (status.BackendState !== "Running") {
        return { refused: `this machine is not connected to the tailnet (tailscale status: ${status.BackendState ?? "unknown"}); run tailscale up, or join it as CI does (docs/deploy.md)` };
    }
    const wanted = hostname.toLowerCase();
    const named = Object.values(status.Peer ?? {}).filter((p) => (p.HostName ?? "").toLowerCase() === wanted || shortName(p) === wanted);
    const qualified = named.filter((p) => tags.every((tag) => (p.Tags ?? []).includes(tag)));
    const online = qualified.filter((p) => p.Online && !p.Expired);
    if (online.length > 1) {
        return { refused: `${online.length} online tailnet devices are ${hostname} with tags ${tags.join(",")} (${online.map((p) => p.ID).join(", ")}); remove the stale one in the Tailscale admin console, then deploy again` };
    }
    if (online.length === 1) {
        const [peer] = online;
        const address = (peer.TailscaleIPs ?? []).find((ip) => ip.includes("."));
        const keys = peer.sshHostKeys ?? [];
        if (!address) return { refused: `${hostname} (${peer.ID}) has no tailnet IPv4 address` };
        if (keys.length === 0) return { refused: `${hostname} (${peer.ID}) reports no SSH host key: Tailscale SSH is not running there (tailscale up --ssh)` };
        return { host: { id: peer.ID ?? "", address, hostKeys: keys } };
    }
    const impostors = named.filter((p) => !qualified.includes(p)).map((p) => `${p.ID} (tags: ${(p.Tags ?? []).join(",") || "none"})`);
    const offline = qualified.length > 0 ? `; ${qualified.length} with them is offline` : "";
    const others = impostors.length > 0 ? `; ignored, for lacking them: ${impostors.join(", ")}` : "";
    return { waiting: `no online tailnet device is ${hostname} with tags ${tags.join(",")}${offline}${others}` };
}

/** known_hosts lines for the host, keyed by its name (ssh_config: HostKeyAlias). */
export const knownHostsLines = (hostname: string, host: VerifiedHost): string =>
    host.hostKeys.map((key) => `${hostname} ${key.trim().split(/\s+/).slice(0, 2).join(" ")}\n`).join("");

function readStatus(): TailscaleStatus | { refused: string } {
    const run = spawnSync("tailscale", ["status", "--json"], { encoding: "utf8", maxBuffer: 32 * 1024 * 1024 });
    if (run.error) return { refused: `the tailscale CLI is not installed on this machine (${run.error.message}); the deploy reaches the host through it` };
    if (run.status !== 0) return { refused: `tailscale status failed: ${(run.stderr || run.stdout).trim().split("\n")[0]}` };
    try {
        return JSON.parse(run.stdout) as TailscaleStatus;
    } catch {
        return { refused: "tailscale status --json printed something that is not JSON" };
    }
}

async function main(argv: readonly string[]): Promise<number> {
    const flag = (name: string): string => {
        const at = argv.indexOf(name);
        if (at < 0 || at + 1 >= argv.length) throw new Error(`${name} is required`);
        return argv[at + 1];
    };
    const hostname = flag("--host");
    const tags = flag("--tags").split(",").filter(Boolean);
    const deadline = Date.now() + Number(flag("--wait")) * 1000;
    const interval = Number(process.env.RAILS_STACK_WAIT_INTERVAL ?? 5) * 1000;
    for (;;) {
        const status = readStatus();
        const lookup = "refused" in status ? status : findHost(status, hostname, tags);
        if ("host" in lookup) {
            fs.writeFileSync(flag("--known-hosts"), knownHostsLines(hostname, lookup.host), { mode: 0o600 });
            process.stdout.write(`${lookup.host.address}\n`);
            return 0;
        }
        if ("refused" in lookup) {
            process.stderr.write(`deploy: error: ${lookup.refused}\n`);
            return 2;
        }
        if (Date.now() >= deadline) {
            process.stderr.write(`deploy: error: ${lookup.waiting}, after waiting ${flag("--wait")}s; a device without those tags gets nothing (docs/deploy.md, "The host's identity")\n`);
            return 1;
        }
        await new Promise((resolve) => setTimeout(resolve, interval));
    }
}

// Run as `node launch.js deploy/host-identity` (launch.js is then require.main); a module for the tests.
if (require.main === module || require.main?.filename === path.join(PROJECT_ROOT, "launch.js")) {
    main(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (err: Error) => {
            process.stderr.write(`deploy: error: ${err.message}\n`);
            process.exitCode = 2;
        },
    );
}
