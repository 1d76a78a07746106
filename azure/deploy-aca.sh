#!/usr/bin/env bash
# Deploy dsba-platform to Azure Container Apps: several replicas behind HTTPS
# ingress, all on the one Azure File Share registry, scaled on HTTP load, and
# each image a revision that takes a share of the traffic (blue-green, canary).
set -euo pipefail

# shellcheck source=azure/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: azure/deploy-aca.sh [--dry-run] [--config FILE] [--force-build]
                           [--canary PERCENT | --promote | --rollback]

First run: create what is missing (resource group, registry and image, storage
account and share, identity, Container Apps environment with the share, the
app); its first revision gets all the traffic.
Later runs with a new AZ_IMAGE_TAG: add a revision of that image and give it
PERCENT of the traffic (AZ_ACA_CANARY_PERCENT, default 10), the rest staying
on the revision that served so far. A tag already deployed changes nothing.

  --canary PERCENT  the new revision's share (0: blue-green, test it on its
                    own revision URL first)
  --promote         all traffic to the latest revision; deactivate the others
  --rollback        all traffic back to the previous revision; deactivate the latest
  --dry-run         print every az command instead of changing anything
  --config FILE     settings (default: azure/config.env); the environment wins
  --force-build     build the image even when its tag is already in the registry

Secrets come from the environment: SECRET_KEY, DSBA_API_TOKENS.
EOF
}

parse_args "--force-build --canary --promote --rollback" "$@"
((PROMOTE + ROLLBACK + (${#CANARY} > 0) <= 1)) || die "--canary, --promote and --rollback exclude each other"
load_config
# Two proxies write X-Forwarded-For: the ingress, then the Caddy sidecar.
trust_proxies 2
[[ $AZ_ACA_APP =~ ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ ]] ||
    die "AZ_ACA_APP must be 2-32 lowercase letters, digits and hyphens"
[[ $AZ_ACA_MIN_REPLICAS =~ ^[0-9]+$ && $AZ_ACA_MIN_REPLICAS -ge 2 ]] ||
    die "AZ_ACA_MIN_REPLICAS must be at least 2 (azure/deploy.sh runs a single container)"
[[ $AZ_ACA_MAX_REPLICAS =~ ^[0-9]+$ && $AZ_ACA_MAX_REPLICAS -ge $AZ_ACA_MIN_REPLICAS ]] ||
    die "AZ_ACA_MAX_REPLICAS must be at least AZ_ACA_MIN_REPLICAS"
[[ $AZ_ACA_CONCURRENT_REQUESTS =~ ^[1-9][0-9]*$ ]] ||
    die "AZ_ACA_CONCURRENT_REQUESTS must be a positive integer"
CANARY=${CANARY:-$AZ_ACA_CANARY_PERCENT}
[[ $CANARY =~ ^[0-9]+$ && $CANARY -le 100 ]] || die "AZ_ACA_CANARY_PERCENT must be 0 to 100"
resolve_image_tag
preflight

# A revision is named <app>--<suffix>, the suffix made from the image tag.
suffix=$(printf '%s' "${AZ_IMAGE_TAG,,}" | tr -c 'a-z0-9' '-')
[[ $suffix =~ ^[a-z] ]] || suffix="r$suffix"
suffix=${suffix:0:$((60 - ${#AZ_ACA_APP}))}
while [[ $suffix == *- ]]; do suffix=${suffix%-}; done
ACA_REVISION_SUFFIX=$suffix
REVISION="$AZ_ACA_APP--$ACA_REVISION_SUFFIX"
app=(--name "$AZ_ACA_APP" --resource-group "$AZ_RESOURCE_GROUP")

# set_traffic REVISION=WEIGHT...: the split between revisions (the weights add up to 100).
set_traffic() {
    az_run containerapp ingress traffic set "${app[@]}" --revision-weight "$@" --output none
}

# deactivate REVISION: stop its replicas (it can be activated again).
deactivate() {
    az_run containerapp revision deactivate "${app[@]}" --revision "$1" --output none
}

# latest_revision: the newest revision of the app.
latest_revision() {
    az_value "PLANNED-latest-revision" containerapp show "${app[@]}" \
        --query properties.latestRevisionName
}

if ((PROMOTE)); then
    latest=$(latest_revision)
    log "promoting $latest: all traffic"
    set_traffic "$latest=100"
    others=$(az_query containerapp revision list "${app[@]}" \
        --query "[?properties.active && name != '$latest'].name" --output tsv) || others=""
    for old in $others; do deactivate "$old"; done
    exit 0
fi
if ((ROLLBACK)); then
    latest=$(latest_revision)
    previous=$(az_query containerapp ingress traffic show "${app[@]}" \
        --query "sort_by([?revisionName != '$latest'], &weight)[-1].revisionName" --output tsv) ||
        previous=""
    [[ -n $previous && $previous != None ]] ||
        die "no earlier revision with traffic (after --promote: az containerapp revision activate it first)"
    log "rolling back: all traffic to $previous, $latest deactivated"
    set_traffic "$previous=100" "$latest=0"
    deactivate "$latest"
    exit 0
fi

require_secrets
ensure_group
ensure_registry
ensure_image
ensure_caddy_image always
ensure_storage "$AZ_FILE_SHARE"
ensure_pull_identity
# Container Apps refers to the vault's secrets (keyVaultUrl) instead of holding copies.
VAULT_REFS=1
ensure_operations
lookup_ids

log "Container Apps environment $AZ_ACA_ENV"
if ! az_exists containerapp env show --name "$AZ_ACA_ENV" --resource-group "$AZ_RESOURCE_GROUP"; then
    logs=()
    # With AZ_LOG_WORKSPACE the logs go through a diagnostic setting (below), which needs
    # no workspace key on the command line; without, the environment makes its own workspace.
    ((!MONITORING_ON)) || logs=(--logs-destination azure-monitor)
    az_run containerapp env create --name "$AZ_ACA_ENV" --resource-group "$AZ_RESOURCE_GROUP" \
        --location "$AZ_LOCATION" ${logs[@]+"${logs[@]}"} --output none
fi
# shellcheck disable=SC2034  # read by the template
ACA_ENV_ID=$(az_value "$(planned_id Microsoft.App/managedEnvironments "$AZ_ACA_ENV")" containerapp env show --name "$AZ_ACA_ENV" \
    --resource-group "$AZ_RESOURCE_GROUP" --query id)
if ((MONITORING_ON)) && ! az_exists monitor diagnostic-settings show --name dsba-logs \
    --resource "$ACA_ENV_ID"; then
    az_run monitor diagnostic-settings create --name dsba-logs --resource "$ACA_ENV_ID" \
        --workspace "$WORKSPACE_ID" --logs '[{"categoryGroup": "allLogs", "enabled": true}]' \
        --output none
fi

log "share $AZ_FILE_SHARE in the environment as storage $AZ_ACA_STORAGE"
if ! az_exists containerapp env storage show --name "$AZ_ACA_ENV" \
    --resource-group "$AZ_RESOURCE_GROUP" --storage-name "$AZ_ACA_STORAGE"; then
    # `az containerapp env storage set` would take the account key in argv;
    # az rest reads the same request from a private file instead.
    subscription=$(az_value "PLANNED-subscription-id" account show --query id)
    url="https://management.azure.com/subscriptions/$subscription/resourceGroups/$AZ_RESOURCE_GROUP"
    url+="/providers/Microsoft.App/managedEnvironments/$AZ_ACA_ENV/storages/$AZ_ACA_STORAGE"
    url+="?api-version=2024-03-01"
    storage_body() {
        printf '{"properties": {"azureFile": {"accountName": "%s", "accountKey": "%s", ' \
            "$AZ_STORAGE_ACCOUNT" "$1"
        printf '"shareName": "%s", "accessMode": "ReadWrite"}}}\n' "$AZ_FILE_SHARE"
    }
    if ((DRY_RUN)); then
        trace "+" az rest --method put --url "$url" --body @env-storage.json --output none
        {
            printf -- '--- env-storage.json (secrets masked) ---\n'
            storage_body '***'
            printf -- '--- end env-storage.json ---\n'
        } >&3
    else
        load_storage_key
        private_dir
        (
            umask 077
            storage_body "$STORAGE_KEY" >"$PRIVATE_DIR/env-storage.json"
        )
        az_run rest --method put --url "$url" --body "@$PRIVATE_DIR/env-storage.json" --output none
        drop_private_dir
    fi
fi

# apply_app VERB: create or update the app from containerapp.yaml.tmpl; the
# rendered file holds the secrets and lives only in the private folder.
apply_app() {
    if ((DRY_RUN)); then
        trace "+" az containerapp "$1" "${app[@]}" --yaml containerapp.yaml --output none
        show_masked containerapp.yaml.tmpl
        return 0
    fi
    private_dir
    (
        umask 077
        render_template containerapp.yaml.tmpl secret >"$PRIVATE_DIR/containerapp.yaml"
    )
    az_run containerapp "$1" "${app[@]}" --yaml "$PRIVATE_DIR/containerapp.yaml" --output none
    drop_private_dir
}

log "container app $AZ_ACA_APP, revision $REVISION"
if ! az_exists containerapp show "${app[@]}"; then
    wait_for_pull_grant
    ACA_PIN_TRAFFIC=0
    apply_app create
    # Name the revision in the traffic rules: a later revision then starts
    # with no traffic, instead of taking all of it as "latest" would.
    set_traffic "$REVISION=100"
elif az_exists containerapp revision show "${app[@]}" --revision "$REVISION"; then
    log "revision $REVISION exists: nothing to do (--promote or --rollback move traffic)"
else
    ACA_STABLE_REVISION=$(az_value "PLANNED-stable-revision" containerapp ingress traffic show \
        "${app[@]}" --query "sort_by(@, &weight)[-1].revisionName")
    # shellcheck disable=SC2034  # read by the template
    ACA_PIN_TRAFFIC=1
    apply_app update
    log "traffic: $ACA_STABLE_REVISION $((100 - CANARY))%, $REVISION $CANARY%"
    set_traffic "$ACA_STABLE_REVISION=$((100 - CANARY))" "$REVISION=$CANARY"
fi

fqdn=$(az_value "$AZ_ACA_APP.<environment domain>" containerapp show "${app[@]}" \
    --query properties.configuration.ingress.fqdn)
log "done: https://$fqdn (--promote when the new revision is good, --rollback if not)"
