#!/bin/bash
# The deploy step of `pulumi up` (components/deploy.ts runs it; docs/deploy.md explains it): writes
# the stack's rendered Kamal set into a per-stack directory outside the app's checkout, checks the
# app (deploy/doctor.ts), builds and pushes the image when it builds (with the push credential,
# before any host is touched), finds the host the way Tailscale knows it (name, tags, SSH host keys:
# deploy/host-identity.ts), waits until it answers over SSH and cloud-init has finished, restores
# any replicated database its volume lacks, runs `kamal setup` from the app's checkout, reboots
# an accessory whose settings changed, and logs the host out of the registry.
#
# Everything arrives in the environment (set by the Command from the stack config):
#   RAILS_STACK_STACK, RAILS_STACK_SERVICE, RAILS_STACK_RAILS_ENV  destination, Kamal service, RAILS_ENV
#   RAILS_STACK_APP_DIR        the app's checkout (relative to the project directory or absolute)
#   RAILS_STACK_VERSION        the image tag; empty when it could not be resolved, then
#   RAILS_STACK_VERSION_PROBLEM  says why
#   RAILS_STACK_BUILD          true: Kamal builds and pushes; false: it only pulls
#   RAILS_STACK_IMAGE_DIGEST   the digest the pulled image must have (appImageDigest), or empty
#   RAILS_STACK_REGISTRY_PUSH_PASSWORD  (secret, with RAILS_STACK_BUILD=true) the push credential;
#                              KAMAL_REGISTRY_PASSWORD, which Kamal logs the hosts in with, only pulls
#   RAILS_STACK_HOST           the host's name (its SSH user and port are in the set's ssh_config)
#   RAILS_STACK_HOST_TAGS      the tailnet tags the host must carry (comma-separated)
#   RAILS_STACK_WAIT_SECONDS   how long the host may take to join, answer and finish cloud-init
#   RAILS_STACK_BOOTSTRAP_REPORT  the host's per-step bootstrap report, shown when cloud-init failed
#   RAILS_STACK_TUNNEL_TOKEN   the tunnel's connector token (secret), written on the host to
#   RAILS_STACK_TUNNEL_TOKEN_FILE  (relative to the deploy user's home), where cloudflared reads it
#   RAILS_STACK_FILES          the set's relative paths; RAILS_STACK_FILE_<i> the i-th file's content
#   RAILS_STACK_SECRET_NAMES   every secret the set reads; each is a variable of this environment
#   RAILS_STACK_ACCESSORIES    one line per accessory: <name> <container> <digest> <secret names...>
# and, from the deployer's own environment (never stored in Pulumi state):
#   RAILS_STACK_KAMAL          Kamal's executable (default: the app's bin/kamal)
#   RAILS_STACK_STATE_DIR      where the per-stack directories live (default ~/.local/state/rails-stack)
# Secret values stay in the environment: never on a command line, never printed. Kamal's own output
# goes to <set>/kamal.log; stdout is a short summary (the Command keeps it in the Pulumi state).
# Written for bash 3.2 too (macOS): no empty array is expanded bare under `set -u`.
set -euo pipefail

log() { printf 'deploy: %s\n' "$*" >&2; }
fail() {
    printf 'deploy: error: %s\n' "$*" >&2
    exit 1
}

for name in RAILS_STACK_STACK RAILS_STACK_SERVICE RAILS_STACK_RAILS_ENV RAILS_STACK_APP_DIR RAILS_STACK_BUILD \
    RAILS_STACK_HOST RAILS_STACK_HOST_TAGS RAILS_STACK_WAIT_SECONDS RAILS_STACK_FILES RAILS_STACK_BOOTSTRAP_REPORT RAILS_STACK_TUNNEL_TOKEN_FILE; do
    [ -n "${!name:-}" ] || fail "$name is not set (run this script through the stack's deploy Command)"
done
stack="$RAILS_STACK_STACK"
host="$RAILS_STACK_HOST"
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Relative paths in the stack config (appDir) are relative to the project.
cd "$project"

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1
}

# --- The app, its version and Kamal -------------------------------------------------------------
[ -d "$RAILS_STACK_APP_DIR" ] ||
    fail "app directory $RAILS_STACK_APP_DIR does not exist (rails-stack:appDir, relative to $project); point appDir at the app's checkout"
app_dir="$(cd "$RAILS_STACK_APP_DIR" && pwd)"
version="${RAILS_STACK_VERSION:-}"
[ -n "$version" ] || fail "${RAILS_STACK_VERSION_PROBLEM:-no app version}"
if [ "$RAILS_STACK_BUILD" = true ]; then
    # Kamal builds the checkout's HEAD and tags it with $version: they must be the same commit.
    head="$(git -C "$app_dir" rev-parse HEAD 2>/dev/null)" || fail "$app_dir is not a git checkout; Kamal builds from git (or set buildImage: false)"
    wanted="$(git -C "$app_dir" rev-parse --verify --quiet "$version^{commit}" 2>/dev/null)" || wanted=""
    [ "$wanted" = "$head" ] ||
        fail "appVersion $version is not the commit checked out in $app_dir (HEAD is $head): check it out, or unset appVersion to deploy HEAD"
    [ -n "${RAILS_STACK_REGISTRY_PUSH_PASSWORD:-}" ] || fail "RAILS_STACK_REGISTRY_PUSH_PASSWORD is not set: with buildImage true the step pushes with registryPushPassword"
fi
kamal="${RAILS_STACK_KAMAL:-$app_dir/bin/kamal}"
[ -x "$kamal" ] || fail "Kamal not found at $kamal: add it to the app (bundle binstubs kamal) or set RAILS_STACK_KAMAL to its executable"
step_secrets=(RAILS_STACK_TUNNEL_TOKEN)
[ "$RAILS_STACK_BUILD" != true ] || step_secrets+=(RAILS_STACK_REGISTRY_PUSH_PASSWORD)
for name in ${RAILS_STACK_SECRET_NAMES:-} "${step_secrets[@]}"; do
    [ -n "${!name:-}" ] || fail "secret $name is empty in the deploy step's environment"
    # Kamal reads its secrets file with dotenv, which (3.1.8 and older) runs a $(...) it finds in a
    # substituted value; a newline would cut the value short. Refused before anything leaves.
    # shellcheck disable=SC2016 # the literal characters $(
    case "${!name}" in
    *'$('* | *'`'* | *$'\n'*) fail "secret $name contains \$(, a backtick or a newline, which Kamal's secrets file would run or cut (dotenv); set a value without them" ;;
    esac
done

# --- The rendered set, in a per-stack directory outside the app's checkout ----------------------
state_root="${RAILS_STACK_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/rails-stack}"
dir="$state_root/$RAILS_STACK_SERVICE-$stack"
case "$dir" in
*'"'* | *\\* | *:*) fail "the set's directory $dir contains '\"', '\\' or ':', which deploy.yml cannot carry; set RAILS_STACK_STATE_DIR" ;;
esac
mkdir -p "$state_root"
rm -rf "$dir.new"
mkdir -m 0700 "$dir.new"
i=0
for file in $RAILS_STACK_FILES; do
    var="RAILS_STACK_FILE_$i"
    [ -n "${!var+set}" ] || fail "$var (the content of $file) is not set"
    mkdir -p "$(dirname "$dir.new/$file")"
    printf '%s' "${!var}" >"$dir.new/$file"
    i=$((i + 1))
done
chmod 0700 "$dir.new/hooks/pre-deploy"
rm -rf "$dir"
mv "$dir.new" "$dir"
log "wrote the Kamal set of $stack to $dir"

# Kamal's whole output goes to its log; its headlines (unindented lines) to stderr, live.
kamal_run() {
    local status
    set +e
    (cd "$app_dir" && RAILS_STACK_KAMAL_DIR="$dir" "$kamal" "$@" -c "$dir/deploy.yml" -d "$stack") 2>&1 |
        tee -a "$dir/kamal.log" | { grep --line-buffered -v '^[[:space:]]' || true; } >&2
    status=${PIPESTATUS[0]}
    set -e
    return "$status"
}

# --- The app itself: every problem at once, before anything changes ------------------------------
# With a pinned digest the doctor also refuses a tag the registry now serves as another image.
digest_flags=()
[ -z "${RAILS_STACK_IMAGE_DIGEST:-}" ] || digest_flags=(--image-digest "$RAILS_STACK_IMAGE_DIGEST")
node "$project/launch.js" deploy/doctor-cli --app-dir "$app_dir" --rails-env "$RAILS_STACK_RAILS_ENV" --litestream "$dir/litestream.yml" --kamal-config "$dir/deploy.yml" --version "$version" --build "$RAILS_STACK_BUILD" --kamal "$kamal" ${digest_flags[@]+"${digest_flags[@]}"} >&2 ||
    fail "the app in $app_dir is not ready for RAILS_ENV=$RAILS_STACK_RAILS_ENV (problems above; npm run doctor -- --stack $stack)"

# Built and pushed here, before the host is waited for, with the push credential, which only this
# machine holds: Kamal logs in with the one password it is given, here and on the hosts
# (lib/kamal/cli/build.rb). The hosts get KAMAL_REGISTRY_PASSWORD, the pull credential, when
# `kamal setup --skip-push` pulls.
build_seconds=0
if [ "$RAILS_STACK_BUILD" = true ]; then
    log "kamal build push of $RAILS_STACK_SERVICE $version; Kamal's output: $dir/kamal.log"
    build_started=$SECONDS
    push_password="$RAILS_STACK_REGISTRY_PUSH_PASSWORD"
    # Out of the environment: no later Kamal run, SSH session or hook inherits it.
    unset RAILS_STACK_REGISTRY_PUSH_PASSWORD
    KAMAL_REGISTRY_PASSWORD="$push_password" kamal_run build push --version "$version" ||
        fail "kamal build push failed (its output: $dir/kamal.log)"
    unset push_password
    build_seconds=$((SECONDS - build_started))
fi

# --- The host: the device Tailscale vouches for, then SSH ----------------------------------------
started=$SECONDS
# Waits until Tailscale shows the host online with the stack's tags, pins its SSH host keys and
# prints its tailnet address; a device that only claims the name gets nothing (it exits non-zero).
address="$(node "$project/launch.js" deploy/host-identity --host "$host" --tags "$RAILS_STACK_HOST_TAGS" \
    --known-hosts "$dir/known_hosts" --wait "$RAILS_STACK_WAIT_SECONDS")" || exit 1
# Kamal (ssh.config) and every ssh here read this file: the rendered ssh_config plus what was verified.
{
    printf '# Written by the deploy step: the device Tailscale verified as %s (deploy/host-identity.ts).\n' "$host"
    printf 'Include "%s"\n' "$dir/ssh_config"
    printf 'Host %s\n  HostName %s\n  UserKnownHostsFile "%s"\n' "$host" "$address" "$dir/known_hosts"
} >"$dir/ssh_identity"
log "$host is tailnet device $address with tags $RAILS_STACK_HOST_TAGS; its SSH host key is pinned"

# One SSH connection for all of the step's own commands (and the pre-deploy hook's).
ssh_options=(-F "$dir/ssh_identity" -o BatchMode=yes -o ConnectTimeout=10 -o ControlMaster=auto -o "ControlPath=$dir/cm" -o ControlPersist=120)
on_host() {
    local words
    printf -v words '%q ' "$@"
    # shellcheck disable=SC2029 # quoted above for the remote shell
    ssh "${ssh_options[@]}" "$host" "$words"
}
# On the way out: once Kamal has logged the host in, log it out (Kamal leaves the credential in
# ~deploy/.docker/config.json; each deploy logs in again), then close the shared connection.
registry_login=false
registry_logout() {
    registry_login=false
    kamal_run registry logout --skip-local ||
        log "warning: could not log $host out of the registry; its credential stays in ~deploy/.docker/config.json there"
}
finish() {
    [ "$registry_login" != true ] || registry_logout
    ssh "${ssh_options[@]}" -O exit "$host" >/dev/null 2>&1 || true
}
trap finish EXIT

wait_for_host() {
    local deadline=$((started + RAILS_STACK_WAIT_SECONDS)) interval="${RAILS_STACK_WAIT_INTERVAL:-5}"
    log "waiting for $host to answer over SSH"
    until on_host true 2>"$dir/ssh.err"; do
        if grep -q "Host key verification failed" "$dir/ssh.err"; then
            fail "the SSH host key of $address is not the one Tailscale reports for $host: refusing to send it anything"
        fi
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "host $host did not answer over SSH within ${RAILS_STACK_WAIT_SECONDS}s ($(tail -n 1 "$dir/ssh.err")): does the tailnet policy let this machine in as deploy? (docs/deploy.md)"
        sleep "$interval"
    done
    local remaining=$((deadline - SECONDS)) status=0
    [ "$remaining" -gt 0 ] || remaining=1
    log "waiting for cloud-init to finish on $host"
    on_host timeout "$remaining" cloud-init status --wait >/dev/null || status=$?
    case "$status" in
    0) ;;
    2) log "cloud-init on $host finished with recoverable errors; continuing" ;;
    124) fail "cloud-init on $host was still running after ${RAILS_STACK_WAIT_SECONDS}s (see cloud-init status --long there)" ;;
    *)
        on_host cloud-init status --long >&2 || true
        on_host cat "$RAILS_STACK_BOOTSTRAP_REPORT" >&2 || true
        fail "cloud-init on $host finished with errors (exit $status); its report is above"
        ;;
    esac
}
wait_for_host

# The tunnel token travels on stdin, and only when the host's copy differs: a write restarts
# cloudflared (a path unit on the host), which is how a rotated token reaches a running host.
deliver_tunnel_token() {
    local wanted current
    wanted="$(printf '%s\n' "$RAILS_STACK_TUNNEL_TOKEN" | sha256)"
    current="$(on_host sha256sum "$RAILS_STACK_TUNNEL_TOKEN_FILE" 2>/dev/null | cut -d' ' -f1)" || current=""
    [ "$current" != "$wanted" ] || return 0
    log "handing the tunnel token to cloudflared on $host"
    # shellcheck disable=SC2016 # expanded by the host's shell
    printf '%s\n' "$RAILS_STACK_TUNNEL_TOKEN" |
        on_host sh -c 'umask 077 && mkdir -p "$(dirname "$1")" && cat >"$1"' sh "$RAILS_STACK_TUNNEL_TOKEN_FILE" ||
        fail "could not write the tunnel token on $host"
}
deliver_tunnel_token

# The accessories' secret names, by accessory name.
accessory_secrets() {
    local name container digest secrets
    while read -r name container digest secrets; do
        if [ "$name" = "$1" ]; then printf '%s\n' "$secrets"; fi
    done <<<"${RAILS_STACK_ACCESSORIES:-}"
}

# Before anything boots: every replicated database the volume lacks comes back from its replica
# (deploy/restore-databases.sh, on the host, with Litestream's own image and credentials on stdin).
restored=""
restore_databases() {
    local remote=".rails-stack/$RAILS_STACK_SERVICE-$stack" report kind file when secret
    # shellcheck disable=SC2016 # expanded by the host's shell
    tar -C "$dir" -cf - litestream.yml restore | on_host sh -c 'mkdir -p "$1" && tar -xf - -C "$1"' sh "$remote" ||
        fail "could not send the restore script to $host"
    report="$(
        for secret in $(accessory_secrets litestream); do printf '%s=%s\n' "$secret" "${!secret}"; done |
            on_host bash "$remote/restore/restore-databases.sh"
    )" || fail "restoring the databases on $host failed (Litestream's output is above); nothing was started on the volume"
    while read -r kind file when; do
        case "$kind" in
        restored)
            log "restored $file from its replica (last written $when)"
            restored="$restored $file@$when"
            ;;
        fresh) log "$file has no replica yet: it starts empty (a first deploy)" ;;
        esac
    done <<<"$report"
}
restore_databases

# Accessories that exist before `kamal setup` are skipped by it: remember which, to reboot those
# whose settings changed. One that setup boots fresh already runs the new settings.
existing_accessories=()
while read -r name container _; do
    [ -n "$name" ] || continue
    if on_host docker container inspect "$container" >/dev/null 2>&1; then existing_accessories+=("$name"); fi
done <<<"${RAILS_STACK_ACCESSORIES:-}"

# --- Kamal ---------------------------------------------------------------------------------------
# `kamal setup` is safe to re-run (server bootstrap only checks Docker; existing accessories are
# skipped), so the same command serves the first deploy and every later one.
log "kamal setup of $RAILS_STACK_SERVICE $version on $host (RAILS_ENV=$RAILS_STACK_RAILS_ENV); Kamal's output: $dir/kamal.log"
setup_started=$SECONDS
status=0
registry_login=true
kamal_run setup --version "$version" --skip-push || status=$?
kamal_seconds=$((build_seconds + SECONDS - setup_started))
if [ "$status" -ne 0 ]; then
    tail -n 40 "$dir/kamal.log" >&2
    if grep -q "Deploy lock found" "$dir/kamal.log"; then
        log "a deploy lock is held on $host: if no other deploy is running, release it with"
        log "  (cd $app_dir && RAILS_STACK_KAMAL_DIR=$dir $kamal lock release -c $dir/deploy.yml -d $stack)"
    fi
    log "error: kamal setup failed with exit code $status (the end of its output is above; all of it in $dir/kamal.log)"
    exit "$status"
fi

rebooted=""
while read -r name container digest secrets; do
    [ -n "$name" ] || continue
    fingerprint="$(
        printf '%s\n' "$digest"
        for secret in $secrets; do printf '%s\n' "${!secret}"; done
    )"
    fingerprint="$(printf '%s' "$fingerprint" | sha256)"
    stored="$(on_host cat ".rails-stack/$RAILS_STACK_SERVICE-$stack/$name.fingerprint" 2>/dev/null)" || stored=""
    if [[ " ${existing_accessories[*]:-} " == *" $name "* && "$stored" != "$fingerprint" ]]; then
        log "the settings of accessory $name changed: rebooting $container"
        reboot_started=$SECONDS
        kamal_run accessory reboot "$name" || fail "kamal accessory reboot $name failed (its output: $dir/kamal.log)"
        kamal_seconds=$((kamal_seconds + SECONDS - reboot_started))
        rebooted="$rebooted $name"
    fi
    on_host mkdir -p ".rails-stack/$RAILS_STACK_SERVICE-$stack"
    printf '%s\n' "$fingerprint" | on_host tee ".rails-stack/$RAILS_STACK_SERVICE-$stack/$name.fingerprint" >/dev/null
done <<<"${RAILS_STACK_ACCESSORIES:-}"

logout_started=$SECONDS
registry_logout
kamal_seconds=$((kamal_seconds + SECONDS - logout_started))
log "$RAILS_STACK_SERVICE $version runs on $host with RAILS_ENV=$RAILS_STACK_RAILS_ENV"
# The digest the host pulled that tag as: what production pins as appImageDigest once reviewed.
# shellcheck source=/dev/null disable=SC2153 # IMAGE comes from the rendered env file
image="$(. "$dir/hooks/pre-deploy.env" && printf '%s' "$IMAGE")"
running_digest=""
while read -r repo_digest; do
    [[ "$repo_digest" == "$image@"* ]] && running_digest="${repo_digest#"$image@"}"
done < <(on_host docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image:$version" || true)
# The summary the Command keeps (stdout): what runs where, and what changed beside the app.
echo "deployed $RAILS_STACK_SERVICE $version to $host ($address) with RAILS_ENV=$RAILS_STACK_RAILS_ENV in ${SECONDS}s (Kamal: ${kamal_seconds}s)"
echo "restored from replicas:${restored:- nothing}"
echo "accessories rebooted:${rebooted:- none}"
echo "image: $image:$version is ${running_digest:-unknown (the host has no registry digest for it)}"
