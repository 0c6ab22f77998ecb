#!/bin/bash
# Restore drill of one stack (`npm run restore-drill`, docs/storage.md "Restore drill"), then one
# issue per stack, titled "Restore drill: <stack>" and labelled restore-drill: opened when the drill
# finds problems or cannot run (each said distinctly), updated while it stays so, closed when every
# replica restores again. The drill's report goes to the run's summary too.
# Litestream's key pair for the backups bucket is the stack's config (both secrets): read with
# `pulumi config get` into this shell's environment only, masked (`::add-mask::`) before anything
# else runs, never on a command line; the issue body is the drill's output, which names buckets,
# keys and Litestream's messages, never a credential (S3 errors carry none: lib/s3.ts), and is
# cleared of both values anyway.
# Exit code: the drill's (0 healthy, 1 problems, 2 could not run); 2 when pulumi cannot give the pair.
# Usage: restore-drill.sh staging|production     (from the project's root, after npm ci)
# Needs: pulumi (logged in, allowed to read the stack), sqlite3, gh (GH_TOKEN with issues: write;
# GH_REPO or a github.com remote), jq.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=stack-issue.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-issue.sh"

stack="$(scheduled_stack restore-drill drilled "$@")"
title="Restore drill: $stack"
label=restore-drill
repo_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}"
run_url="$repo_url/actions/runs/${GITHUB_RUN_ID:-}"
runbook="[docs/runbooks.md, \"Restore drill\"]($repo_url/blob/HEAD/docs/runbooks.md#8-restore-drill)"
report="$(mktemp)"
errors="$(mktemp)"
body="$(mktemp)"
trap 'rm -f "$report" "$errors" "$body"' EXIT

# Sets variable $1 to config key $2 of the stack and masks it; fails as pulumi does (its message in $errors).
config_secret() {
    local value
    value="$(pulumi config get --stack "$stack" "$2" 2>>"$errors")" || return
    # The runner refuses to mask an empty value; the drill refuses an empty key.
    [ -z "$value" ] || echo "::add-mask::$value"
    printf -v "$1" '%s' "$value"
}

status=0
LITESTREAM_ACCESS_KEY_ID=""
LITESTREAM_SECRET_ACCESS_KEY=""
if config_secret LITESTREAM_ACCESS_KEY_ID r2BackupsAccessKeyId && config_secret LITESTREAM_SECRET_ACCESS_KEY r2BackupsSecretAccessKey; then
    export LITESTREAM_ACCESS_KEY_ID LITESTREAM_SECRET_ACCESS_KEY
    npm run --silent restore-drill -- --stack "$stack" >"$report" 2>>"$errors" || status=$?
else
    echo "restore-drill: pulumi config get could not give $stack's Litestream key pair (r2BackupsAccessKeyId, r2BackupsSecretAccessKey)" >>"$errors"
    status=2
fi
cat "$report"
cat "$errors" >&2
cat "$report" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"

if [ "$status" -eq 0 ]; then
    close_issue "$title" "$label" "Every replica restores again: $run_url"
    echo "restore-drill: every replica of $stack restores"
    exit 0
fi

# The file $1 with both values of the pair replaced, as the runner masks its log.
cleared() {
    local text value
    text="$(<"$1")"
    for value in "$LITESTREAM_ACCESS_KEY_ID" "$LITESTREAM_SECRET_ACCESS_KEY"; do
        [ -z "$value" ] || text="${text//"$value"/***}"
    done
    printf '%s\n' "$text" >"$1"
}
cleared "$report"
cleared "$errors"
# Problems come with the drill's report; anything else (exit 2, or npm failing before the drill
# printed one) means the drill did not run.
ran=false
[ "$status" -eq 1 ] && [ -s "$report" ] && ran=true
{
    if [ "$ran" = true ]; then
        echo "The restore drill of **$stack** found problems ($run_url): a restore from its backups would not give back what it should."
        echo "What each line means and what to do: $runbook."
        echo
        fenced "$report"
    else
        echo "The restore drill of **$stack** could not run ($run_url, exit $status): nothing is known of its backups until it does."
        echo "What stopped it is below; $runbook says what to do."
        echo
        fenced "$errors"
    fi
} >"$body"
report_issue "$title" "$label" B60205 "Backups that do not restore (restore-drill workflow)" "$body"
if [ "$ran" = true ]; then
    echo "::error title=Restore drill of $stack found problems::see the issue \"$title\"" >&2
else
    echo "::error title=Restore drill of $stack did not run::exit $status; see the issue \"$title\"" >&2
fi
exit "$status"
