#!/bin/bash
# Destroys and removes every review stack (pr-<number>) whose pull request is closed or merged, so
# a missed close event does not leave servers running and billing. A stack whose pull request
# cannot be read is left alone and reported: a sweep never destroys on a guess. Any failure (a
# stack list that cannot be read, a pull request, a destroy) fails the run after every other stack
# had its turn.
# Needs: pulumi (logged in), gh (GH_TOKEN; GH_REPO or a github.com remote), jq.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Its own command: a `pulumi stack ls` that fails must fail the sweep, not list no stacks.
stacks="$(pulumi stack ls --json)"
failed=0
for stack in $(jq -r '.[].name | sub("^.*/"; "")' <<<"$stacks" | grep -E '^pr-[1-9][0-9]*$' || true); do
    number="${stack#pr-}"
    if ! state="$(gh pr view "$number" --json state --jq .state)"; then
        echo "::error title=Review stack $stack left alone::cannot read pull request #$number" >&2
        failed=1
        continue
    fi
    if [ "$state" = OPEN ]; then
        echo "sweep: #$number is open; keeping $stack"
        continue
    fi
    echo "sweep: #$number is ${state,,}; destroying $stack"
    "$here/destroy-review-stack.sh" "$stack" || failed=1
done
exit "$failed"
