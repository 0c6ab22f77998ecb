// A per-stack SSH public key nobody holds the private key for. Hetzner needs some SSH key on a
// server or it emails a root password, but rejects a second key with the same fingerprint in one
// project (uniqueness_error), so staging, production and every pr-<n> stack sharing a project
// cannot each register the deploy key. Root login is disabled on the host anyway.
import { createHash } from "crypto";

const P = 2n ** 255n - 19n;
// Ed25519's curve constant d = -121665 / 121666 (mod p).
const D = (-121665n * modPow(121666n, P - 2n)) % P;

function modPow(base: bigint, exponent: bigint): bigint {
    let result = 1n;
    let b = ((base % P) + P) % P;
    for (let e = exponent; e > 0n; e >>= 1n) {
        if (e & 1n) result = (result * b) % P;
        b = (b * b) % P;
    }
    return result;
}

/** Whether y encodes an Ed25519 point: x² = (y² - 1) / (d·y² + 1) must be a square mod p. */
function isCurveY(y: bigint): boolean {
    const y2 = (y * y) % P;
    const x2 = (((y2 - 1n + P) % P) * modPow((D * y2 + 1n) % P, P - 2n)) % P;
    return x2 !== 0n && modPow(x2, (P - 1n) / 2n) === 1n;
}

/** A valid Ed25519 point derived from the seed (try-and-increment), as its 32-byte encoding. */
export function hashToEd25519Point(seed: string): Buffer {
    for (let counter = 0; ; counter++) {
        const digest = createHash("sha256").update(`${seed}\0${counter}`).digest();
        // Little-endian y with the top bit as x's sign: clear it, keep y below p.
        const y = BigInt(`0x${Buffer.from(digest).reverse().toString("hex")}`) & ((1n << 255n) - 1n);
        if (y < P && isCurveY(y)) return digest.subarray(0, 32);
    }
}

const sshString = (data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, data]);
};

/** OpenSSH public key text of the unusable key of "<app>/<stack>". */
export function unusableSshPublicKey(app: string, stack: string): string {
    const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(hashToEd25519Point(`${app}/${stack}`))]);
    return `ssh-ed25519 ${blob.toString("base64")} ${app}-${stack}-no-private-key`;
}
