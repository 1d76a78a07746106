#!/usr/bin/env bash
# Add or revoke an API token in the Key Vault's token table. The app re-reads the
# table every DSBA_KEY_VAULT_REFRESH_SECONDS: no redeploy, no restart.
set -euo pipefail

# shellcheck source=azure/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: azure/token.sh add NAME [--role reader|writer] [--dry-run] [--config FILE]
       azure/token.sh revoke NAME [--dry-run] [--config FILE]
       azure/token.sh list [--config FILE]

add     make a new token for NAME (default role: reader), store its sha256 in the
        vault's token table (secret dsba-api-tokens) and print the token once, on
        stdout: keep it, it is not stored anywhere
revoke  remove NAME's entry; the token stops working within the app's refresh
        period (DSBA_KEY_VAULT_REFRESH_SECONDS, default 300 s)
list    the names and roles in the table

Needs AZ_KEY_VAULT (config or environment) and the Key Vault Secrets Officer
role on the vault, which azure/deploy.sh gives the principal that deploys.
EOF
}

action="" name="" role=reader rest=()
# The new table, handed to the vault by print_var (through a private file).
TABLE=""
while (($#)); do
    case $1 in
        --role)
            (($# >= 2)) || die "--role needs reader or writer"
            role=$2
            shift
            ;;
        --role=*) role=${1#*=} ;;
        add | revoke | list) [[ -z $action ]] && action=$1 || rest+=("$1") ;;
        -*) rest+=("$1") ;;
        *) [[ -z $name && -n $action ]] && name=$1 || rest+=("$1") ;;
    esac
    shift
done
parse_args "" ${rest[@]+"${rest[@]}"}
[[ -n $action ]] || {
    usage >&2
    die "say add, revoke or list"
}
[[ $action == list || $name =~ ^[A-Za-z0-9_.@-]{1,64}$ ]] ||
    die "NAME must be 1-64 letters, digits or _.@- (got '${name}')"
[[ $role == reader || $role == writer ]] || die "--role must be reader or writer, got $role"
load_config
[[ -n $AZ_KEY_VAULT ]] || die "set AZ_KEY_VAULT: tokens live in the Key Vault (azure/deploy.sh makes it)"
preflight

vault_read "$VAULT_TOKENS"
table=$REPLY
REPLY=""
entries=()
IFS=',' read -r -a entries <<<"$table"
kept=() found=0
for entry in ${entries[@]+"${entries[@]}"}; do
    entry=${entry//[[:space:]]/}
    [[ -n $entry ]] || continue
    if [[ ${entry%%:*} == "$name" ]]; then
        found=1
    else
        kept+=("$entry")
    fi
done

case $action in
    list)
        for entry in ${entries[@]+"${entries[@]}"}; do
            entry=${entry//[[:space:]]/}
            [[ -z $entry ]] || printf '%s\n' "${entry%:*}"
        done
        exit 0
        ;;
    revoke)
        ((found)) || ((DRY_RUN)) || die "no token named $name in $AZ_KEY_VAULT"
        log "revoking $name's token"
        # An empty table is stored as one space: the app reads no entry, and auth stays on.
        TABLE=$(
            IFS=,
            printf '%s' "${kept[*]:- }"
        )
        vault_write "$VAULT_TOKENS" print_var TABLE
        log "done: $name's token stops working within DSBA_KEY_VAULT_REFRESH_SECONDS"
        ;;
    add)
        ((!found)) || die "$name has a token already: azure/token.sh revoke $name first"
        if ((DRY_RUN)); then
            vault_write "$VAULT_TOKENS" true
            exit 0
        fi
        token="dsba_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        if command -v sha256sum >/dev/null 2>&1; then
            digest=$(printf '%s' "$token" | sha256sum)
        else
            digest=$(printf '%s' "$token" | shasum -a 256)
        fi
        kept+=("$name:$role:${digest%% *}")
        # shellcheck disable=SC2034  # read by print_var
        TABLE=$(
            IFS=,
            printf '%s' "${kept[*]}"
        )
        vault_write "$VAULT_TOKENS" print_var TABLE
        log "added $name ($role); it works within DSBA_KEY_VAULT_REFRESH_SECONDS. The token, shown once:"
        printf '%s\n' "$token"
        ;;
esac
