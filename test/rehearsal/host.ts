// A real deploy target on this machine, started and stopped by the rehearsal (stack.ts): Debian's
// dockerd, docker-registry and sshd in their own PID, mount and network namespaces (host.sh), a
// `deploy` user reached with a key held by a private ssh-agent, and, on this machine's side of the
// namespace's link, stand-ins for what lies outside a real host: a DNS server that sends R2's
// hostnames to an S3 server (s3rver, over TLS with a rehearsal CA). Nothing outlives stop().
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { OutsideWorld, R2_DOMAIN } from "./outside";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { ROOT } from "../support";

/** The app's uid on the host; cloud-init hands it the volume (lib/paths.ts APP_UID). */
const APP_UID = 1000;

export interface RehearsalHost {
    /** The host's address, as the deployer reaches it. */
    readonly address: string;
    /** This machine's end of the link, where the DNS and S3 stand-ins listen (what R2's names resolve to). */
    readonly outsideAddress: string;
    readonly sshPort: number;
    /** The rehearsal's directory: everything it writes is under it. */
    readonly dir: string;
    /** The volume's contents (/mnt/storage on the host). */
    readonly storage: string;
    /** Where the S3 stand-in keeps objects: <bucket>/<key>. */
    readonly s3: string;
    /** An ssh-agent holding the deploy user's key (SSH_AUTH_SOCK for the deployer). */
    readonly agentSocket: string;
    /** sshd's public host key, as Tailscale would report it (`ssh-ed25519 AAAA...`). */
    readonly hostKey: string;
    /** `docker` against the host's daemon. */
    docker(args: readonly string[], input?: Buffer): string;
    /** The host's daemon, with the exit status instead of a throw. */
    dockerStatus(args: readonly string[]): { status: number | null; output: string };
    /**
     * Makes `reference` (`<name>[:<tag>]@sha256:<digest>`) name the local `image`, as a pull of that
     * digest from a registry would have: a set that names an image by digest then runs on the stand-in.
     */
    addDigestReference(reference: string, image: string): Promise<void>;
    /** Stops every process of the host, as a server that is shut down; its files stay (a volume another host can take over). */
    halt(): Promise<void>;
    /** Stops it and removes its files. */
    stop(): Promise<void>;
}

export interface RehearsalOptions {
    /** S3 access key pairs the S3 stand-in accepts. */
    readonly s3Credentials: readonly { readonly accessKeyId: string; readonly secretAccessKey: string }[];
    /** Buckets the S3 stand-in has. */
    readonly buckets: readonly string[];
    /**
     * A halted host whose volume, registry and S3 stand-in's objects this one takes over, as a
     * replacement server gets the old one's volume: a new machine (no containers, no images but the
     * stand-ins it builds) on the same storage.
     */
    readonly takeOver?: RehearsalHost;
}

/** Why the rehearsal cannot run here, or undefined when it can. */
export function rehearsalUnavailable(): string | undefined {
    if (process.getuid?.() !== 0) return "needs root (network, mount and PID namespaces; dockerd; sshd)";
    for (const tool of ["dockerd", "docker", "docker-registry", "/usr/sbin/sshd", "ssh", "ssh-agent", "ssh-keygen", "ip", "unshare", "nsenter", "openssl", "busybox", "sqlite3"]) {
        if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
    }
    return undefined;
}

const run = (command: string, args: readonly string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): string => {
    const result = spawnSync(command, args, { input: options.input, env: options.env ?? process.env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr}${result.stdout}`);
    return result.stdout;
};

async function until(what: string, seconds: number, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`rehearsal host: ${what} not ready after ${seconds}s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
}

const portOpen = (host: string, port: number): Promise<boolean> =>
    new Promise((resolve) => {
        const socket = net.connect({ host, port, timeout: 500 }, () => {
            socket.destroy();
            resolve(true);
        });
        socket.on("error", () => resolve(false));
        socket.on("timeout", () => {
            socket.destroy();
            resolve(false);
        });
    });

/** Whether the daemon behind `socket` answers its API's ping (GET /_ping), without a docker process per try. */
const dockerAnswers = (socket: string): Promise<boolean> =>
    new Promise((resolve) => {
        const request = http.get({ socketPath: socket, path: "/_ping", timeout: 1000 }, (response) => {
            response.resume();
            resolve(response.statusCode === 200);
        });
        request.on("error", () => resolve(false));
        request.on("timeout", () => {
            request.destroy();
            resolve(false);
        });
    });

/** The processes under `root`, itself included, from /proc. */
function processTree(root: number): number[] {
    const parents = new Map<number, number>();
    for (const entry of fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            // pid (comm) state ppid ...: comm may hold spaces and parentheses.
            parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        } catch {
            // Gone meanwhile.
        }
    }
    const tree = [root];
    for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
    return tree;
}

const executable = (pid: number): string | undefined => {
    try {
        return fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
        return undefined;
    }
};

/**
 * A /30 in 10.251.0.0/16 that no interface of this machine uses yet, and the veth pair for it,
 * claimed by creating the pair: other parts of the rehearsal start hosts at the same moment in
 * other processes, and of two `ip link add` of one name only one succeeds.
 */
function claimLink(): { n: number; outside: string; inside: string } {
    const used = run("ip", ["-o", "-4", "addr"]);
    for (let n = 1; n < 255; n++) {
        if (used.includes(`10.251.${n}.`)) continue;
        const [outside, inside] = [`rsl${n}a`, `rsl${n}b`];
        const added = spawnSync("ip", ["link", "add", outside, "type", "veth", "peer", "name", inside], { encoding: "utf8" });
        if (added.status === 0) return { n, outside, inside };
        if (!added.stderr.includes("File exists")) throw new Error(`ip link add ${outside} failed (${added.status}): ${added.stderr}`);
    }
    throw new Error("no free 10.251.x.0/30 subnet");
}

/** This machine's accounts, with a `deploy` user (uid = the app's) in the docker group. */
function accounts(dir: string): void {
    const keep = (file: string, drop: (fields: string[]) => boolean) =>
        fs.readFileSync(`/etc/${file}`, "utf8").split("\n").filter((line) => line && !drop(line.split(":")));
    const passwd = keep("passwd", (f) => f[0] === "deploy" || f[2] === String(APP_UID));
    const group = keep("group", (f) => f[0] === "deploy" || f[2] === String(APP_UID));
    const shadow = keep("shadow", (f) => f[0] === "deploy");
    const docker = group.findIndex((line) => line.startsWith("docker:"));
    if (docker >= 0) group[docker] = `${group[docker]}${group[docker].endsWith(":") ? "" : ","}deploy`;
    else group.push("docker:x:998:deploy");
    fs.mkdirSync(path.join(dir, "etc"));
    fs.writeFileSync(path.join(dir, "etc", "passwd"), [...passwd, `deploy:x:${APP_UID}:${APP_UID}::/home/deploy:/bin/bash`, ""].join("\n"));
    fs.writeFileSync(path.join(dir, "etc", "group"), [...group, `deploy:x:${APP_UID}:`, ""].join("\n"));
    fs.writeFileSync(path.join(dir, "etc", "shadow"), [...shadow, "deploy:*:19000:0:99999:7:::", ""].join("\n"), { mode: 0o640 });
}

/** What cloud-init leaves in /run/cloud-init after a boot that finished without errors. */
function finishedBoot(dir: string): void {
    fs.mkdirSync(path.join(dir, "boot"));
    const stage = (start: number) => ({ errors: [], start, finished: start + 1 });
    const status = { v1: { datasource: "DataSourceHetzner", "init-local": stage(1), init: stage(3), "modules-config": stage(5), "modules-final": stage(7), stage: null } };
    fs.writeFileSync(path.join(dir, "boot", "status.json"), JSON.stringify(status));
    fs.writeFileSync(path.join(dir, "boot", "result.json"), JSON.stringify({ v1: { datasource: "DataSourceHetzner", errors: [] } }));
}

/** A CA, and a certificate it signed for R2's hostnames. */
function certificates(dir: string): { ca: string; key: string; cert: string } {
    const tls = path.join(dir, "tls");
    fs.mkdirSync(tls);
    const file = (name: string) => path.join(tls, name);
    run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rails-stack rehearsal CA", "-keyout", file("ca.key"), "-out", file("ca.pem")]);
    run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=*${R2_DOMAIN}`, "-keyout", file("s3.key"), "-out", file("s3.csr")]);
    fs.writeFileSync(file("san.cnf"), `subjectAltName=DNS:*${R2_DOMAIN}\n`);
    run("openssl", ["x509", "-req", "-in", file("s3.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", file("san.cnf"), "-out", file("s3.pem")]);
    return { ca: fs.readFileSync(file("ca.pem"), "utf8"), key: fs.readFileSync(file("s3.key"), "utf8"), cert: fs.readFileSync(file("s3.pem"), "utf8") };
}

export async function startRehearsalHost(options: RehearsalOptions): Promise<RehearsalHost> {
    const { n, outside, inside } = claimLink();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehearsal-"));
    // sshd reads the deploy user's authorized keys as that user.
    fs.chmodSync(dir, 0o755);
    const [gateway, address] = [`10.251.${n}.1`, `10.251.${n}.2`];
    const namespace = `rehearsal-${process.pid}-${n}`;
    const sshPort = 2222;
    let launcher: ChildProcess | undefined;
    let outsideWorld: ChildProcess | undefined;

    const storage = options.takeOver?.storage ?? path.join(dir, "storage");
    const s3 = options.takeOver?.s3 ?? path.join(dir, "s3");
    const registry = path.join(options.takeOver?.dir ?? dir, "registry");
    const halt = async (): Promise<void> => {
        if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
            const exited = new Promise((resolve) => launcher!.once("exit", resolve));
            // unshare ignores SIGTERM while it waits; once it is gone, --kill-child kills PID 1 of the
            // namespace, and with it every process in the namespace.
            launcher.kill("SIGKILL");
            await exited;
        }
        if (outsideWorld && outsideWorld.exitCode === null && outsideWorld.signalCode === null) {
            const exited = new Promise((resolve) => outsideWorld!.once("exit", resolve));
            outsideWorld.kill("SIGKILL");
            await exited;
        }
        spawnSync("ip", ["netns", "delete", namespace]);
        spawnSync("ip", ["link", "delete", outside]);
    };
    const stop = async (): Promise<void> => {
        await halt();
        fs.rmSync(dir, { recursive: true, force: true });
    };

    try {
        for (const sub of ["home/deploy", "docker", "exec", "authorized_keys"]) fs.mkdirSync(path.join(dir, sub), { recursive: true });
        for (const shared of [storage, s3, registry]) fs.mkdirSync(shared, { recursive: true });
        fs.chownSync(storage, APP_UID, APP_UID);
        fs.chownSync(path.join(dir, "home", "deploy"), APP_UID, APP_UID);
        accounts(dir);
        finishedBoot(dir);

        // The link between this machine and the host's network namespace.
        run("ip", ["netns", "add", namespace]);
        run("ip", ["link", "set", inside, "netns", namespace]);
        run("ip", ["addr", "add", `${gateway}/30`, "dev", outside]);
        run("ip", ["link", "set", outside, "up"]);
        const inNamespace = (...args: string[]) => run("ip", ["netns", "exec", namespace, "ip", ...args]);
        inNamespace("addr", "add", `${address}/30`, "dev", inside);
        inNamespace("link", "set", inside, "up");
        inNamespace("route", "add", "default", "via", gateway);

        // sshd for the deploy user, with a key only the rehearsal's ssh-agent holds.
        const key = path.join(dir, "deploy_key");
        run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "ssh_host_ed25519_key")]);
        run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "rehearsal-deployer", "-f", key]);
        fs.copyFileSync(`${key}.pub`, path.join(dir, "authorized_keys", "deploy"));
        fs.writeFileSync(
            path.join(dir, "sshd_config"),
            [
                `Port ${sshPort}`,
                `ListenAddress ${address}`,
                `HostKey ${dir}/ssh_host_ed25519_key`,
                `PidFile ${dir}/sshd.pid`,
                `AuthorizedKeysFile ${dir}/authorized_keys/%u`,
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                "AllowUsers deploy",
                "",
            ].join("\n"),
        );
        fs.writeFileSync(path.join(dir, "registry.yml"), `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${registry}\nhttp:\n  addr: 127.0.0.1:5000\n`);

        // Outside the host: DNS and S3 stand-ins on this machine's end of the link, in a process of
        // their own, so they answer while this one waits on a deploy.
        const tls = certificates(dir);
        fs.writeFileSync(path.join(dir, "ca.pem"), tls.ca);
        const world: OutsideWorld = { address: gateway, s3Directory: s3, key: tls.key, cert: tls.cert, credentials: options.s3Credentials, buckets: options.buckets };
        outsideWorld = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(__dirname, "outside.ts"), JSON.stringify(world)], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", "inherit"],
        });
        await new Promise<void>((resolve, reject) => {
            outsideWorld!.stdout!.once("data", () => resolve());
            outsideWorld!.once("exit", (code) => reject(new Error(`the DNS and S3 stand-ins exited (${code})`)));
        });

        launcher = spawn(
            "nsenter",
            [`--net=/run/netns/${namespace}`, "unshare", "--pid", "--mount", "--propagation", "private", "--kill-child", "--mount-proc", "bash", path.join(ROOT, "test", "rehearsal", "host.sh")],
            { env: { PATH: process.env.PATH, REHEARSAL_DIR: dir, REHEARSAL_STORAGE: storage, REHEARSAL_ADDRESS: address, REHEARSAL_SSH_PORT: String(sshPort), REHEARSAL_DNS: gateway }, stdio: "ignore" },
        );
        const socket = path.join(dir, "docker.sock");
        const docker = (args: readonly string[], input?: Buffer): string => run("docker", ["-H", `unix://${socket}`, ...args], { input });
        const dockerStatus = (args: readonly string[]) => {
            const result = spawnSync("docker", ["-H", `unix://${socket}`, ...args], { encoding: "utf8" });
            return { status: result.status, output: `${result.stdout}${result.stderr}` };
        };
        await until("dockerd", 60, () => fs.existsSync(socket) && dockerAnswers(socket));

        // Docker learns a digest only from a registry, on pull or push: `docker tag` refuses a digest
        // reference (moby api/server/router/image: "refusing to create a tag with a digest reference"),
        // and `docker load` records tags only. So the reference goes into the daemon's own record of
        // names (moby reference/store.go, <data-root>/image/<driver>/repositories.json), written while
        // the daemon is stopped; host.sh starts it again. This stands in for the registry only: what
        // Docker then does with `name:tag@digest` (resolve it by the digest alone) is Docker's own.
        const addDigestReference = async (reference: string, image: string): Promise<void> => {
            const match = /^([^@]+?)(?::[\w][\w.-]*)?@(sha256:[0-9a-f]{64})$/.exec(reference);
            if (!match) throw new Error(`${reference}: not <name>[:<tag>]@sha256:<digest>`);
            const [, name, digest] = match;
            const id = docker(["image", "inspect", "--format", "{{.Id}}", image]).trim();
            const hold = path.join(dir, "dockerd.hold");
            fs.writeFileSync(hold, "");
            try {
                const dockerd = processTree(launcher!.pid!).find((pid) => executable(pid)?.endsWith("/dockerd"));
                if (dockerd === undefined) throw new Error("rehearsal host: no dockerd running");
                process.kill(dockerd, "SIGTERM");
                await until("dockerd to stop", 60, () => !fs.existsSync(`/proc/${dockerd}`));
                const file = path.join(dir, "docker", "image", "vfs", "repositories.json");
                const store = JSON.parse(fs.readFileSync(file, "utf8")) as { Repositories: Record<string, Record<string, string>> };
                store.Repositories[name] = { ...store.Repositories[name], [`${name}@${digest}`]: id };
                fs.writeFileSync(file, JSON.stringify(store));
            } finally {
                fs.rmSync(hold, { force: true });
            }
            await until("dockerd", 60, () => dockerAnswers(socket));
            const resolved = docker(["image", "inspect", "--format", "{{.Id}}", reference]).trim();
            if (resolved !== id) throw new Error(`rehearsal host: ${reference} resolves to ${resolved}, not ${id}`);
        };
        await until("sshd", 30, () => portOpen(address, sshPort));
        const agentSocket = path.join(dir, "agent.sock");
        await until("ssh-agent", 10, () => fs.existsSync(agentSocket));
        run("ssh-add", ["-q", key], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket } });
        const hostKey = fs.readFileSync(path.join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
        return { address, outsideAddress: gateway, sshPort, dir, storage, s3, agentSocket, hostKey, docker, dockerStatus, addDigestReference, halt, stop };
    } catch (err) {
        await stop();
        throw err;
    }
}

/**
 * An image's files: relative path → content, a file to copy, a link or a directory, with its mode
 * and owner (uid = gid).
 */
export type ImageFiles = Readonly<
    Record<string, { readonly content?: string | Buffer; readonly copy?: string; readonly link?: string; readonly directory?: boolean; readonly mode?: number; readonly owner?: number }>
>;

/**
 * Makes an image of `files` on the host's daemon with one `docker import`, the Dockerfile
 * instructions in `changes` (ENV, LABEL, USER, WORKDIR, CMD, ENTRYPOINT): one layer, where
 * `docker build` would commit a container per instruction, each a whole copy under the vfs driver.
 */
export function importImage(host: RehearsalHost, tag: string, changes: readonly string[], files: ImageFiles): void {
    const context = fs.mkdtempSync(path.join(host.dir, "image-"));
    try {
        // The image's root directory: mkdtemp makes it 0700, which no container user but root could enter.
        fs.chmodSync(context, 0o755);
        for (const [file, spec] of Object.entries(files)) {
            const target = path.join(context, file);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            if (spec.link) fs.symlinkSync(spec.link, target);
            else if (spec.directory) fs.mkdirSync(target, { recursive: true });
            else if (spec.copy) fs.copyFileSync(spec.copy, target);
            else fs.writeFileSync(target, spec.content ?? "");
            if (spec.mode !== undefined && !spec.link) fs.chmodSync(target, spec.mode);
            if (spec.owner !== undefined) fs.lchownSync(target, spec.owner, spec.owner);
        }
        const layer = execFileSync("tar", ["-C", context, "--numeric-owner", "-c", "."], { maxBuffer: 256 * 1024 * 1024 });
        host.docker(["import", ...changes.flatMap((change) => ["--change", change]), "-", tag], layer);
    } finally {
        fs.rmSync(context, { recursive: true, force: true });
    }
}

/** busybox and all its applets under bin/: a shell and the small tools the images need. */
export function busyboxFiles(): Record<string, { copy?: string; link?: string; mode?: number }> {
    const applets = run("busybox", ["--list"]).trim().split("\n").filter((applet) => applet !== "busybox");
    return { "bin/busybox": { copy: "/bin/busybox", mode: 0o755 }, ...Object.fromEntries(applets.map((a) => [`bin/${a}`, { link: "busybox" }])) };
}

/** A dynamically linked program of this machine and the libraries it loads. */
export function programWithLibraries(program: string): Record<string, { copy: string; mode: number }> {
    const libraries = run("ldd", [program])
        .split("\n")
        .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
        .filter((lib): lib is string => Boolean(lib));
    return Object.fromEntries([program, ...libraries].map((file) => [file.slice(1), { copy: fs.realpathSync(file), mode: 0o755 }]));
}
