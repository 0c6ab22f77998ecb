// The images the rehearsal host runs, made (docker import) of this machine's own binaries (no
// registry beyond npm and Debian's archive is reachable): the app, Litestream (the real binary from
// the npm package the storage tests use) and a stand-in for kamal-proxy, the one image that cannot
// be had here.
import * as path from "path";
import { KAMAL_PROXY_IMAGE } from "../../renderers/kamal";
import { LITESTREAM_IMAGE } from "../../renderers/litestream";
import { ROOT } from "../support";
import { busyboxFiles, importImage, programWithLibraries, RehearsalHost } from "./host";

/**
 * The user kamal-proxy's image runs as, as its Dockerfile makes it on ubuntu:noble (whose `ubuntu`
 * user has uid 1000): `useradd kamal-proxy`, then the configuration directory owned by it
 * (basecamp/kamal-proxy v0.9.2 Dockerfile). Not root, and not the app's uid.
 */
export const KAMAL_PROXY_UID = 1001;
/** Its configuration directory: where Kamal mounts the kamal-proxy-config volume. */
export const KAMAL_PROXY_CONFIG = "/home/kamal-proxy/.config/kamal-proxy";

/**
 * kamal-proxy's stand-in: `run` idles; `deploy` performs the health check kamal-proxy performs
 * before it sends traffic to a new target (GET the health check path until 200, within the deploy
 * timeout), fails the deploy like it when the target never becomes healthy, and saves its state in
 * its configuration directory as kamal-proxy does (internal/server/router.go), so a directory it
 * cannot write fails the deploy; the rest succeed.
 */
const KAMAL_PROXY = `#!/bin/sh
case "$1" in
run)
    # kamal-proxy's run stops on SIGTERM (internal/cmd/run.go: signal.Notify(ch, SIGTERM, SIGINT)).
    trap 'exit 0' TERM INT
    sleep 2147483647 &
    wait ;;
deploy)
    service="$2"
    shift 2
    target="" check=/up timeout=30
    for arg in "$@"; do
        case "$arg" in
        --target=*) target="\${arg#--target=}" ;;
        --health-check-path=*) check="\${arg#--health-check-path=}" ;;
        --deploy-timeout=*) timeout="\${arg#--deploy-timeout=}" && timeout="\${timeout%s}" ;;
        esac
    done
    deadline=$(($(date +%s) + timeout))
    until wget -q -O /dev/null "http://$target$check"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "Error: target failed to become healthy within configured timeout ($timeout s)" >&2
            exit 1
        fi
        sleep 1
    done
    echo "[{\\"name\\":\\"$service\\",\\"target\\":\\"$target\\"}]" >${KAMAL_PROXY_CONFIG}/kamal-proxy.state || exit 1
    echo "Deployed $service to $target" ;;
*) exit 0 ;;
esac
`;

/**
 * The app: on boot it does to the databases of its RAILS_ENV what Rails' db:prepare does (creates
 * them under /rails/storage, at Rails 8's file names), records the boot, and answers /up, unless
 * it was built to fail its health check. It carries Debian's sqlite3 and a shell, which the
 * pre-deploy backup runs, bin/jobs for the job role, and precompiled assets for Kamal's asset bridge.
 */
const BOOT = `#!/bin/sh
set -eu
: "\${RAILS_ENV:?RAILS_ENV is not set}"
for db in "$RAILS_ENV" "\${RAILS_ENV}_queue" "\${RAILS_ENV}_cache" "\${RAILS_ENV}_cable"; do
    sqlite3 "/rails/storage/$db.sqlite3" "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS boots(at TEXT, version TEXT, rails_env TEXT); INSERT INTO boots VALUES (datetime('now'), '$APP_VERSION', '$RAILS_ENV');"
done
mkdir -p /tmp/www
if [ "$APP_HEALTHY" = yes ]; then echo ok >/tmp/www/up; fi
httpd -f -p 80 -h /tmp/www &
server=$!
# Puma stops on SIGTERM (lib/puma/launcher.rb, setup_signals), so \`docker stop\` does not wait out its timeout.
trap 'kill "$server"; exit 0' TERM
wait
`;

/** Under the tag Kamal runs, and as the real image's user, who owns the configuration directory. */
export function buildKamalProxy(host: RehearsalHost): void {
    const id = KAMAL_PROXY_UID;
    const home = "home/kamal-proxy";
    importImage(host, KAMAL_PROXY_IMAGE, ["ENV PATH=/usr/local/bin:/bin", "USER kamal-proxy:kamal-proxy", 'CMD ["kamal-proxy", "run"]'], {
        ...busyboxFiles(),
        "etc/passwd": { content: `root:x:0:0:root:/root:/bin/sh\nkamal-proxy:x:${id}:${id}::/${home}:/bin/sh\n` },
        "etc/group": { content: `root:x:0:\nkamal-proxy:x:${id}:\n` },
        [home]: { directory: true, owner: id },
        [`${home}/.config`]: { directory: true, owner: id },
        [KAMAL_PROXY_CONFIG.slice(1)]: { directory: true, mode: 0o755, owner: id },
        "usr/local/bin/kamal-proxy": { content: KAMAL_PROXY, mode: 0o755 },
    });
}

/**
 * Litestream under the reference the accessory names, tag and digest, trusting the rehearsal's CA
 * (the S3 stand-in). The digest is the real image's: the host is told it names this build
 * (RehearsalHost.addDigestReference), as no registry here could serve it.
 */
export async function buildLitestream(host: RehearsalHost, caPem: string): Promise<void> {
    const tag = LITESTREAM_IMAGE.split("@")[0];
    // On Alpine's shell, tools and PATH, as the real image (litestream's Dockerfile: FROM alpine).
    importImage(host, tag, ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'ENTRYPOINT ["/usr/local/bin/litestream"]'], {
        ...busyboxFiles(),
        "usr/local/bin/litestream": { copy: path.join(ROOT, "node_modules", "@flydotio", "litestream-linux-x64", "litestream"), mode: 0o755 },
        "etc/ssl/certs/ca-certificates.crt": { content: caPem },
    });
    await host.addDigestReference(LITESTREAM_IMAGE, tag);
}

/**
 * The app at `version`, pushed to the host's registry under `repository` (<registry>/<image>);
 * `build` tells two builds of one version apart (another image under the same tag).
 */
export function buildApp(host: RehearsalHost, repository: string, version: string, healthy: boolean, build = "first"): void {
    const tag = `${repository}:${version}`;
    const changes = [
        "ENV PATH=/usr/local/bin:/usr/bin:/bin",
        `ENV APP_VERSION=${version} APP_HEALTHY=${healthy ? "yes" : "no"} APP_BUILD=${build}`,
        // Kamal refuses an image without its service label.
        "LABEL service=shop",
        "WORKDIR /rails",
        "USER 1000:1000",
        'CMD ["/bin/sh", "/rails/boot.sh"]',
    ];
    importImage(host, tag, changes, {
        ...busyboxFiles(),
        ...programWithLibraries("/usr/bin/sqlite3"),
        "rails/boot.sh": { content: BOOT, mode: 0o755 },
        // Solid Queue's supervisor, like Puma, stops on SIGTERM.
        "rails/bin/jobs": { content: "#!/bin/sh\ntrap 'exit 0' TERM\nsleep 2147483647 &\nwait\n", mode: 0o755 },
        "rails/storage": { directory: true, mode: 0o755 },
        // What assets:precompile leaves; Kamal bridges it between versions (asset_path).
        [`rails/public/assets/application-${version}.css`]: { content: "body{}\n" },
        tmp: { directory: true, mode: 0o1777 },
    });
    host.docker(["push", tag]);
}
