#!/bin/bash
# Destroys a review stack, then removes it, from any checkout: the close job and the nightly sweep
# start from a fresh one, where Pulumi.pr-<n>.yaml never existed (only the runner of the job that
# created the stack had it).
#
# 1. `pulumi config refresh --force` writes the config of the stack's last update, from the
#    backend (pulumi/pulumi pkg/cmd/pulumi/config/config.go, newConfigRefreshCmd).
# 2. Staging's current config is copied over it (`pulumi config cp`). A CLI that validates config
#    on destroy (every release before 3.249, and any release that runs the program: --run-program,
#    PULUMI_RUN_PROGRAM) checks it against today's Pulumi.yaml, which may require keys the stack's
#    old config lacks ("validating stack config: Stack 'pr-7' is missing configuration value ...",
#    pkg/workspace/config.go). Destroy never runs this program and the providers come from the
#    state, so the values only have to pass that check.
# 3. `pulumi destroy`. If it fails, the stack keeps its state (and its delete-time clean-ups) for
#    the next sweep, and this script fails loudly.
# 4. `pulumi stack rm` without --force, which refuses while resources remain.
#
# Usage: destroy-review-stack.sh pr-<number>     (from the project's root)
set -euo pipefail

stack="${1:?usage: destroy-review-stack.sh pr-<number>}"
[[ "$stack" =~ ^pr-[1-9][0-9]*$ ]] || {
    echo "destroy-review-stack: $stack is not a review stack (pr-<number>); refusing" >&2
    exit 2
}

fail() {
    echo "::error title=Review stack $stack not removed::$1" >&2
    exit 1
}

errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

# Exit 6 is "no such stack" (pkg/cmd/pulumi/cmd/exit_codes.go); anything else, a login or network
# failure included, must not pass for "nothing to destroy".
status=0
pulumi stack select "$stack" 2>"$errors" || status=$?
case "$status" in
0) ;;
6)
    echo "destroy-review-stack: no stack $stack; nothing to destroy"
    exit 0
    ;;
*)
    cat "$errors" >&2
    fail "cannot look up $stack (pulumi exited $status)"
    ;;
esac

if ! pulumi config refresh --stack "$stack" --force 2>"$errors"; then
    cat "$errors" >&2
    grep -q "no previous deployment" "$errors" || fail "cannot recover the config of $stack"
    # Never updated, so nothing was created; rm still refuses if that is wrong.
    pulumi stack rm "$stack" --yes --non-interactive || fail "$stack was never deployed, but pulumi stack rm refused it"
    echo "destroy-review-stack: $stack was never deployed; removed"
    exit 0
fi
pulumi config cp --stack staging --dest "$stack" || fail "cannot copy staging's config to $stack"
pulumi destroy --stack "$stack" --yes --non-interactive --skip-preview ||
    fail "pulumi destroy failed; $stack keeps its state and resources for the next sweep (review-stack-sweep.yml), or run: pulumi destroy --stack $stack"
pulumi stack rm "$stack" --yes --non-interactive || fail "pulumi stack rm refused $stack after its destroy"
echo "destroy-review-stack: $stack destroyed and removed"
