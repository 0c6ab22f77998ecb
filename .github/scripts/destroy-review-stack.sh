#!/bin/bash
# Destroys a review stack, then removes it: `pulumi stack rm` without --force refuses while the
# stack still holds resources, so a destroy that failed half-way leaves the stack (and its record
# of what to clean up) in place for the next attempt instead of orphaning cloud resources.
# Usage: destroy-review-stack.sh pr-<number>
set -euo pipefail

stack="${1:?usage: destroy-review-stack.sh pr-<number>}"
[[ "$stack" =~ ^pr-[1-9][0-9]*$ ]] || {
    echo "destroy-review-stack: $stack is not a review stack (pr-<number>); refusing" >&2
    exit 2
}
if ! pulumi stack select "$stack" 2>/dev/null; then
    echo "destroy-review-stack: no stack $stack; nothing to destroy"
    exit 0
fi
pulumi destroy --stack "$stack" --yes --non-interactive --skip-preview
pulumi stack rm "$stack" --yes --non-interactive
echo "destroy-review-stack: $stack destroyed and removed"
