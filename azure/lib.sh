# shellcheck shell=bash
# Shared helpers for the azure/*.sh scripts: options, configuration, running az
# (or only printing it with --dry-run), secret masking, private files for
# secrets. Sourced, never run: the caller has already done `set -euo pipefail`.
# Its variables are read by the scripts that source it and by the templates
# through ${!name}, where shellcheck cannot see them:
# shellcheck disable=SC2034

AZURE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_ROOT=$(cd "$AZURE_DIR/.." && pwd)

DRY_RUN=0
ASSUME_YES=0
KEEP_STORAGE=0
FORCE=0
FORCE_BUILD=0
RECREATE=0
TAIL_LINES=50
CANARY=""
PROMOTE=0
ROLLBACK=0
CONFIG_FILE=${AZ_CONFIG:-$AZURE_DIR/config.env}
# Set when --dry-run cannot reach Azure: read-only queries are then skipped and
# the plan assumes that nothing exists yet.
AZ_OFFLINE=0

# The registry path inside the image; the file share must be mounted exactly here.
REGISTRY_MOUNT=/app/models/registry
APP_PORT=8000
# Caddy reaches the app over the group's (or the replica's) shared localhost.
APP_UPSTREAM=localhost:$APP_PORT
# Container Apps: the ingress sends to Caddy here (it terminates TLS itself).
CADDY_PORT=8080
ACA_CADDY_SITE=http://:$CADDY_PORT

# Trace lines go to fd 3 (stdout: the plan of --dry-run) or fd 4 (stderr: the
# log of a real run), which stay the terminal when a helper runs inside $(...)
# or has its own stdout/stderr sent elsewhere.
exec 3>&1 4>&2

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# parse_args "FLAGS THIS SCRIPT ACCEPTS" "$@": the common options plus the allowed extras.
parse_args() {
    local allowed=" $1 "
    shift
    while (($#)); do
        case $1 in
            -h | --help)
                usage
                exit 0
                ;;
            --dry-run) DRY_RUN=1 ;;
            --config)
                (($# >= 2)) || die "--config needs a file"
                CONFIG_FILE=$2
                shift
                ;;
            --config=*) CONFIG_FILE=${1#*=} ;;
            *)
                [[ $allowed == *" ${1%%=*} "* ]] || {
                    usage >&2
                    die "unknown option: $1"
                }
                case $1 in
                    -y | --yes) ASSUME_YES=1 ;;
                    --keep-storage) KEEP_STORAGE=1 ;;
                    --force) FORCE=1 ;;
                    --force-build) FORCE_BUILD=1 ;;
                    --recreate) RECREATE=1 ;;
                    --tail)
                        (($# >= 2)) || die "--tail needs a number"
                        TAIL_LINES=$2
                        shift
                        ;;
                    --tail=*) TAIL_LINES=${1#*=} ;;
                    --canary)
                        (($# >= 2)) || die "--canary needs a percentage"
                        CANARY=$2
                        shift
                        ;;
                    --canary=*) CANARY=${1#*=} ;;
                    --promote) PROMOTE=1 ;;
                    --rollback) ROLLBACK=1 ;;
                esac
                ;;
        esac
        shift
    done
    [[ $TAIL_LINES =~ ^[0-9]+$ ]] || die "--tail needs a number, got $TAIL_LINES"
    [[ -z $CANARY || ($CANARY =~ ^[0-9]+$ && $CANARY -le 100) ]] ||
        die "--canary needs a percentage from 0 to 100, got $CANARY"
    return 0
}

# load_config: NAME=value lines from the config file, then defaults. A variable
# set (non-empty) in the environment wins over the file, so CI can override any
# setting without editing it, and an unset CI variable, which arrives empty,
# overrides nothing. The file is read as data, never executed.
load_config() {
    local line name value
    if [[ -f $CONFIG_FILE ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
            name=${BASH_REMATCH[2]}
            value=${BASH_REMATCH[3]}
            [[ -n ${!name:-} ]] && continue
            if [[ $value =~ ^\"(.*)\"[[:space:]]*(#.*)?$ || $value =~ ^\'(.*)\'[[:space:]]*(#.*)?$ ]]; then
                value=${BASH_REMATCH[1]}
            else
                value=${value%%[[:space:]]#*}
                value=${value%"${value##*[![:space:]]}"}
            fi
            export "$name=$value"
        done <"$CONFIG_FILE"
    elif [[ $CONFIG_FILE != "$AZURE_DIR/config.env" ]]; then
        die "config file not found: $CONFIG_FILE"
    fi

    : "${AZ_SUBSCRIPTION:=}"
    : "${AZ_LOCATION:=westeurope}"
    : "${AZ_RESOURCE_GROUP:=dsba}"
    : "${AZ_ACR_NAME:=}"
    : "${AZ_STORAGE_ACCOUNT:=}"
    : "${AZ_FILE_SHARE:=dsba-registry}"
    : "${AZ_SHARE_QUOTA_GB:=100}"
    : "${AZ_CADDY_SHARE:=caddy-data}"
    : "${AZ_IDENTITY:=dsba-acr-pull}"
    : "${AZ_CONTAINER_GROUP:=dsba}"
    : "${AZ_DNS_LABEL:=}"
    : "${AZ_CPU:=1}"
    : "${AZ_MEMORY_GB:=2}"
    : "${AZ_HTTPS_SIDECAR:=1}"
    : "${AZ_CADDY_SOURCE:=docker.io/library/caddy:2}"
    : "${AZ_CADDY_IMAGE:=caddy:2}"
    # Caddy buffers uploads in memory: 1 GB holds one of the default 200 MB at its peak.
    : "${AZ_CADDY_MEMORY_GB:=1}"
    : "${AZ_IMAGE_NAME:=dsba-platform}"
    : "${AZ_IMAGE_TAG:=}"
    # Extras named by the operator are taken as they are; otherwise the settings pick them.
    AZ_IMAGE_EXTRAS_SET=${AZ_IMAGE_EXTRAS:+1}
    # An app that trains on Dask needs dask and distributed in its image.
    if [[ -n ${DSBA_DASK_SCHEDULER:-} ]]; then
        : "${AZ_IMAGE_EXTRAS:=dask}"
    fi
    : "${AZ_IMAGE_EXTRAS:=}"
    : "${AZ_ROLE_WAIT_SECONDS:=60}"
    : "${AZ_SECRET_VARS:=SECRET_KEY DSBA_API_TOKENS}"
    # Secret when set, but not required to deploy.
    : "${AZ_OPTIONAL_SECRET_VARS:=DSBA_METRICS_TOKEN APPLICATIONINSIGHTS_CONNECTION_STRING}"
    : "${AZ_ACA_ENV:=dsba-aca-env}"
    : "${AZ_ACA_APP:=dsba}"
    : "${AZ_ACA_STORAGE:=dsba-registry}"
    : "${AZ_ACA_CPU:=1.0}"
    : "${AZ_ACA_MEMORY:=2Gi}"
    : "${AZ_ACA_MIN_REPLICAS:=2}"
    : "${AZ_ACA_MAX_REPLICAS:=5}"
    : "${AZ_ACA_CONCURRENT_REQUESTS:=30}"
    : "${AZ_ACA_CADDY_CPU:=0.5}"
    : "${AZ_ACA_CADDY_MEMORY:=1Gi}"
    : "${AZ_ACA_CANARY_PERCENT:=10}"
    : "${DSBA_ENV:=production}"
    export DSBA_ENV
    if [[ $DSBA_ENV != production ]]; then
        # Likely a developer's shell setting leaking into the cloud.
        warn "DSBA_ENV=$DSBA_ENV: the deployed app will run without production safeguards"
    fi

    local missing=() var
    for var in AZ_ACR_NAME AZ_STORAGE_ACCOUNT AZ_DNS_LABEL; do
        [[ -n ${!var} ]] || missing+=("$var")
    done
    ((${#missing[@]} == 0)) ||
        die "set ${missing[*]} in $CONFIG_FILE or the environment (see azure/config.env.example)"
    [[ $AZ_ACR_NAME =~ ^[A-Za-z0-9]{5,50}$ ]] || die "AZ_ACR_NAME must be 5-50 letters or digits"
    [[ $AZ_STORAGE_ACCOUNT =~ ^[a-z0-9]{3,24}$ ]] ||
        die "AZ_STORAGE_ACCOUNT must be 3-24 lowercase letters or digits"
    [[ $AZ_DNS_LABEL =~ ^[a-z][a-z0-9-]{1,61}[a-z0-9]$ ]] ||
        die "AZ_DNS_LABEL must be lowercase letters, digits and hyphens, starting with a letter"
    [[ $AZ_CPU =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "AZ_CPU must be a number"
    [[ $AZ_MEMORY_GB =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "AZ_MEMORY_GB must be a number"
    [[ $AZ_ROLE_WAIT_SECONDS =~ ^[0-9]+$ ]] || die "AZ_ROLE_WAIT_SECONDS must be an integer"
    operations_config
    caddy_config
    FQDN="$AZ_DNS_LABEL.$AZ_LOCATION.azurecontainer.io"
    if [[ $AZ_HTTPS_SIDECAR == 1 ]]; then
        PUBLIC_URL="https://$FQDN"
    else
        PUBLIC_URL="http://$FQDN:$APP_PORT"
    fi
}

# trust_proxies HOPS: unless set, DSBA_PROXY_HOPS=HOPS, the proxies in front of
# the app (Caddy in ACI; the ingress and Caddy in Container Apps) whose X-Forwarded-For
# entry the app takes as the client's address, e.g. for its login limiter.
trust_proxies() {
    : "${DSBA_PROXY_HOPS:=$1}"
    export DSBA_PROXY_HOPS
}

# caddy_config: azure/Caddyfile for the templates, and how much of a request it
# buffers: the app's upload limit, the 1 MiB the app adds for multipart, 1 MiB more.
caddy_config() {
    local upload=${DSBA_MAX_UPLOAD_BYTES:-209715200}
    [[ $upload =~ ^[0-9]+$ ]] || die "DSBA_MAX_UPLOAD_BYTES must be a number of bytes, got $upload"
    CADDY_MAX_BODY=$((upload + 2 * 1024 * 1024))
    CADDYFILE=$(<"$AZURE_DIR/Caddyfile")
    CADDYFILE_BASE64=$(base64 <"$AZURE_DIR/Caddyfile" | tr -d '\n')
}

# resolve_image_tag: AZ_IMAGE_TAG, or what `git describe` says about the work
# tree; images with extras get them in the tag (v1.2.0-dask), so that the two
# variants of one commit never overwrite each other.
resolve_image_tag() {
    if [[ -z $AZ_IMAGE_TAG ]]; then
        AZ_IMAGE_TAG=$(git -C "$PROJECT_ROOT" describe --tags --always --dirty 2>/dev/null) ||
            die "not a git checkout: set AZ_IMAGE_TAG"
    fi
    [[ $AZ_IMAGE_EXTRAS =~ ^[a-z0-9,-]*$ ]] || die "AZ_IMAGE_EXTRAS: comma-separated extras, got $AZ_IMAGE_EXTRAS"
    if [[ -n $AZ_IMAGE_EXTRAS ]]; then
        AZ_IMAGE_TAG+="-${AZ_IMAGE_EXTRAS//,/-}"
    fi
    [[ $AZ_IMAGE_TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "invalid image tag: $AZ_IMAGE_TAG"
}

# trace PREFIX ARGS...: print a command as a shell would read it, every
# secret value masked as ***. No subshells: it runs for every az call.
trace() {
    local prefix=$1 arg name value quoted line=""
    shift
    for arg in "$@"; do
        for name in $AZ_SECRET_VARS ${AZ_OPTIONAL_SECRET_VARS:-} STORAGE_KEY WORKSPACE_KEY; do
            value=${!name-}
            if ((${#value} >= 4)); then
                arg=${arg//"$value"/"***"}
            fi
        done
        printf -v quoted '%q' "$arg"
        line+=" $quoted"
    done
    if ((DRY_RUN)); then
        printf '%s%s\n' "$prefix" "$line" >&3
    else
        printf '%s%s\n' "$prefix" "$line" >&4
    fi
}

# az_cmd ARGS...: the az command line, with the subscription when one is configured.
az_cmd() {
    # az rest has no --subscription: its URLs name the subscription themselves; Microsoft
    # Graph (az ad) knows no subscriptions.
    if [[ -n ${AZ_SUBSCRIPTION:-} && $1 != rest && $1 != ad ]]; then
        set -- "$@" --subscription "$AZ_SUBSCRIPTION"
    fi
    AZ_ARGV=(az "$@")
}

# az_run ARGS...: a command that changes something: only printed with --dry-run.
az_run() {
    az_cmd "$@"
    trace "+" "${AZ_ARGV[@]}"
    ((DRY_RUN)) && return 0
    "${AZ_ARGV[@]}"
}

# az_query ARGS...: a read-only command; it runs even with --dry-run, since it
# changes nothing and decides what the plan contains.
az_query() {
    az_cmd "$@"
    trace "  (query)" "${AZ_ARGV[@]}"
    ((AZ_OFFLINE)) && return 1
    "${AZ_ARGV[@]}"
}

# planned_id PROVIDER/TYPE NAME: what the resource id of a planned resource will look like
# (the --dry-run placeholder, shaped so that az's validators accept it).
planned_id() {
    printf '/subscriptions/%s/resourceGroups/%s/providers/%s/%s\n' \
        "${AZ_SUBSCRIPTION:-00000000-0000-0000-0000-000000000000}" "$AZ_RESOURCE_GROUP" "$1" "$2"
}

# az_exists ARGS...: true when the `show` command in ARGS finds the resource.
az_exists() {
    az_query "$@" --output none 2>/dev/null
}

# az_value PLACEHOLDER ARGS...: the tsv output of a query; with --dry-run, when
# the resource is only planned, the placeholder stands in for it.
az_value() {
    local placeholder=$1 out
    shift
    local errors=/dev/stderr
    # With --dry-run a planned resource is not there yet: that is no error.
    ((DRY_RUN)) && errors=/dev/null
    if out=$(az_query "$@" --output tsv 2>"$errors") && [[ -n $out ]]; then
        printf '%s\n' "$out"
    elif ((DRY_RUN)); then
        printf '%s\n' "$placeholder"
    else
        die "no answer from: az $*"
    fi
}

# preflight: az is installed and logged in; --dry-run goes on without it.
preflight() {
    if ((DRY_RUN)); then
        log "dry run: '+ az' lines would run; '(query)' lines only read, and did run"
    fi
    if ! command -v az >/dev/null 2>&1; then
        ((DRY_RUN)) || die "the Azure CLI (az) is not installed: https://aka.ms/azure-cli"
        warn "az not found: the plan assumes that nothing exists yet"
        AZ_OFFLINE=1
        return 0
    fi
    if ! az_query account show --output none 2>/dev/null; then
        ((DRY_RUN)) || die "not logged in to Azure: run az login"
        warn "not logged in to Azure: the plan assumes that nothing exists yet"
        AZ_OFFLINE=1
    fi
}

# require_secrets: production refuses to start without them, so fail here, not in the cloud.
require_secrets() {
    # With a Key Vault they are in the vault, or generated there (ensure_vault_secrets).
    [[ -z ${AZ_KEY_VAULT:-} ]] || return 0
    local name missing=()
    for name in $AZ_SECRET_VARS; do
        [[ -n ${!name:-} ]] || missing+=("$name")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ $DSBA_ENV != production ]]; then
        warn "not set: ${missing[*]} (DSBA_ENV=$DSBA_ENV)"
    elif ((DRY_RUN)); then
        warn "not set: ${missing[*]}; a real run stops here"
    else
        die "export ${missing[*]} first: the app refuses to start in production without them"
    fi
}

# confirm QUESTION: yes with --yes, otherwise an explicit "yes" on stdin.
confirm() {
    ((ASSUME_YES)) && return 0
    local answer
    printf '%s [type yes] ' "$1" >&2
    if ! IFS= read -r answer; then
        printf '\n' >&2
        die "no answer on stdin: refusing (pass --yes to skip the question)"
    fi
    [[ $answer == yes ]] || die "not confirmed: nothing was changed"
}

# private_dir: set PRIVATE_DIR to a new folder only we can read (mktemp -d makes
# it 0700), deleted when the script exits, however it exits. Files holding
# secrets are written there with umask 077, and nowhere else.
private_dir() {
    [[ -z ${PRIVATE_DIR:-} ]] || return 0
    PRIVATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dsba-azure.XXXXXX")
    trap 'rm -rf "$PRIVATE_DIR"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# drop_private_dir: delete the secrets as soon as az has read them.
drop_private_dir() {
    [[ -z ${PRIVATE_DIR:-} ]] || rm -rf "$PRIVATE_DIR"
    PRIVATE_DIR=""
}

# shellcheck source=azure/render.sh
source "$AZURE_DIR/render.sh"
# shellcheck source=azure/resources.sh
source "$AZURE_DIR/resources.sh"
# shellcheck source=azure/operations.sh
source "$AZURE_DIR/operations.sh"
