#!/bin/bash
# `pulumi preview` or `pulumi up` of one stack, as every workflow runs them: non-interactive, with
# the policy pack, and with the app version a deploy asked for.
# Usage: pulumi-stack.sh preview|up <stack>     (from the project's root)
# APP_COMMIT (optional): the app commit to deploy, 40 lowercase hex; becomes appVersion (the image
#   tag Kamal builds or pulls).
# APP_DIGEST (optional; required for production with APP_COMMIT): sha256:<64 hex>; becomes
#   appImageDigest, the digest production must find under that tag (staging's deploy prints it).
set -euo pipefail

action="${1:?usage: pulumi-stack.sh preview|up <stack>}"
stack="${2:?usage: pulumi-stack.sh preview|up <stack>}"
args=(--stack "$stack" --non-interactive --policy-pack policy)
if [ -n "${APP_COMMIT:-}" ]; then
    [[ "$APP_COMMIT" =~ ^[0-9a-f]{40}$ ]] || {
        echo "pulumi-stack: APP_COMMIT ${APP_COMMIT@Q} is not a full commit id; allowed: 40 lowercase hex characters" >&2
        exit 2
    }
    args+=(--config "rails-stack:appVersion=$APP_COMMIT")
fi
if [ "$stack" = production ] && [ -n "${APP_COMMIT:-}" ] && [ -z "${APP_DIGEST:-}" ]; then
    echo "pulumi-stack: production deploys commit $APP_COMMIT only with its image digest (APP_DIGEST, sha256:<64 hex>): the one staging's deploy printed as \"image: ... is sha256:...\"" >&2
    exit 2
fi
if [ -n "${APP_DIGEST:-}" ]; then
    [[ "$APP_DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || {
        echo "pulumi-stack: APP_DIGEST ${APP_DIGEST@Q} is not an image digest; allowed: sha256: then 64 lowercase hex characters" >&2
        exit 2
    }
    args+=(--config "rails-stack:appImageDigest=$APP_DIGEST")
fi
case "$action" in
preview) exec pulumi preview "${args[@]}" --diff ;;
up) exec pulumi up "${args[@]}" --yes --skip-preview ;;
*)
    echo "pulumi-stack: $action is not preview or up" >&2
    exit 2
    ;;
esac
