# shellcheck shell=bash
# One issue per stack and check, for the scheduled checks (drift.sh, restore-drill.sh): found by its
# exact title among the open issues with its label; opened, its body replaced while the check keeps
# failing, closed with a comment when it passes again. Sourced, not run.
# Needs: gh (GH_TOKEN with issues: write; GH_REPO or a github.com remote), jq.

# The stack a scheduled check runs for, its script's one argument: staging or production (review
# stacks are short-lived). Usage: stack="$(scheduled_stack <script> <what the check does> "$@")"
scheduled_stack() {
    local script="$1" done="$2"
    [[ "${3:-}" == staging || "${3:-}" == production ]] || {
        echo "$script: ${3:-no stack}: only staging and production are $done (review stacks are short-lived); usage: $script.sh staging|production" >&2
        return 2
    }
    printf '%s' "$3"
}

# The number of the open issue titled $1 with label $2, or nothing.
open_issue() {
    gh issue list --state open --label "$2" --limit 100 --json number,title |
        jq -r --arg title "$1" 'map(select(.title == $title)) | .[0].number // empty'
}

# Opens the issue titled $1 with label $2 (created if missing: colour $3, description $4) and the
# body in file $5, or replaces the body of the open one.
report_issue() {
    local title="$1" label="$2" color="$3" description="$4" body="$5" number
    number="$(open_issue "$title" "$label")"
    gh label create "$label" --color "$color" --description "$description" --force
    if [ -n "$number" ]; then
        gh issue edit "$number" --body-file "$body" >/dev/null
        echo "updated #$number ($title)"
    else
        gh issue create --title "$title" --label "$label" --body-file "$body"
    fi
}

# Closes the open issue titled $1 with label $2, if there is one, with the comment $3.
close_issue() {
    local number
    number="$(open_issue "$1" "$2")"
    if [ -n "$number" ]; then
        gh issue close "$number" --comment "$3"
    fi
}

# The end of file $1 (an issue body holds 65536 characters) in a code block.
fenced() {
    echo '```'
    # A fence inside the output would end the code block.
    # shellcheck disable=SC2016
    tail -c 60000 "$1" | sed 's/^```/` ``/'
    echo '```'
}
