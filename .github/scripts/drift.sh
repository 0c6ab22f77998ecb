#!/bin/bash
# Drift check of one stack: `pulumi preview --refresh --expect-no-changes`, then one issue per
# stack, titled "Drift: <stack>" and labelled drift: opened when something changed outside Pulumi,
# updated while it stays so, closed when the stack is clean again. A preview that cannot run
# fails the job and leaves the issue as it is.
# The deploy Command and the delete-time clean-ups (every command:local:Command) are excluded from
# the verdict: they have no cloud state to drift, and the deploy's trigger follows whatever commit
# the app's checkout is at. `--exclude` takes URN globs ("**" any run of characters, "*" no ':',
# pulumi/pulumi pkg/resource/deploy/deployment.go getMatcher).
# Usage: drift.sh staging|production     (from the project's root)
# Needs: pulumi (logged in), gh (GH_TOKEN with issues: write; GH_REPO or a github.com remote), jq.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=stack-issue.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-issue.sh"

stack="$(scheduled_stack drift checked "$@")"
title="Drift: $stack"
label=drift
run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
preview="$(mktemp)"
body="$(mktemp)"
trap 'rm -f "$preview" "$body"' EXIT

status=0
pulumi preview --stack "$stack" --refresh --expect-no-changes --diff --non-interactive \
    --exclude '**command:local:Command::**' --policy-pack policy >"$preview" 2>&1 || status=$?
cat "$preview"
# 7: changes where none were expected (pkg/cmd/pulumi/cmd/exit_codes.go ExitNoChanges).
case "$status" in
0) drifted=false ;;
7) drifted=true ;;
*)
    echo "::error title=Drift check of $stack did not run::pulumi preview exited $status; the drift issue is left as it is" >&2
    exit 1
    ;;
esac

if [ "$drifted" = false ]; then
    close_issue "$title" "$label" "Clean again: $run_url"
    echo "drift: $stack matches its Pulumi state"
    exit 0
fi

{
    echo "\`pulumi preview --refresh\` of **$stack** found changes made outside Pulumi ($run_url)."
    echo "Bring them back with \`pulumi up --stack $stack\`, or make them part of the program."
    echo
    fenced "$preview"
} >"$body"
report_issue "$title" "$label" D93F0B "Changed outside Pulumi (drift workflow)" "$body"
echo "::warning title=Drift on $stack::see the issue \"$title\""
