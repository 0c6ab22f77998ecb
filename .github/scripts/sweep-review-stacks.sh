#!/bin/bash
# Destroys and removes every review stack (pr-<number>) whose pull request is closed or merged, so
# a missed close event does not leave servers running and billing. A stack whose pull request
# cannot be read is left alone and reported: a sweep never destroys on a guess.
# Needs: pulumi (logged in), gh (GH_TOKEN), jq.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
failed=0
for stack in $(pulumi stack ls --json | jq -r '.[].name | sub("^.*/"; "")' | grep -E '^pr-[1-9][0-9]*$' || true); do
    number="${stack#pr-}"
    if ! state="$(gh pr view "$number" --json state --jq .state 2>/dev/null)"; then
        echo "sweep: cannot read pull request #$number; leaving $stack alone" >&2
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
