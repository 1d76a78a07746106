#!/usr/bin/env bash
# Deploy dsba-platform to Azure Container Instances, the model registry on an
# Azure File Share. Creates only what is missing: a second run changes nothing.
set -euo pipefail

# shellcheck source=azure/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: azure/deploy.sh [--dry-run] [--config FILE] [--force-build]

Create, where missing: the resource group, a container registry with the app
image (built in Azure by `az acr build`), a storage account with the file share
for the model registry, a managed identity allowed to pull from the registry,
and the container group (app + Caddy HTTPS sidecar).

  --dry-run       print every az command instead of changing anything
                  (read-only queries still run, to plan against what exists)
  --config FILE   settings (default: azure/config.env); the environment wins
  --force-build   build the image even when its tag is already in the registry

Secrets come from the environment: SECRET_KEY, DSBA_API_TOKENS.
EOF
}

parse_args "--force-build" "$@"
load_config
resolve_image_tag
require_secrets
preflight

log "resource group $AZ_RESOURCE_GROUP"
if ! az_exists group show --name "$AZ_RESOURCE_GROUP"; then
    az_run group create --name "$AZ_RESOURCE_GROUP" --location "$AZ_LOCATION" --output none
fi

log "container registry $AZ_ACR_NAME"
if ! az_exists acr show --name "$AZ_ACR_NAME" --resource-group "$AZ_RESOURCE_GROUP"; then
    # Basic is enough for one app; no admin user: pulls go through the identity.
    az_run acr create --name "$AZ_ACR_NAME" --resource-group "$AZ_RESOURCE_GROUP" \
        --location "$AZ_LOCATION" --sku Basic --admin-enabled false --output none
fi
ensure_image
ensure_caddy_image

log "storage account $AZ_STORAGE_ACCOUNT, share $AZ_FILE_SHARE"
if ! az_exists storage account show --name "$AZ_STORAGE_ACCOUNT" \
    --resource-group "$AZ_RESOURCE_GROUP"; then
    az_run storage account create --name "$AZ_STORAGE_ACCOUNT" \
        --resource-group "$AZ_RESOURCE_GROUP" --location "$AZ_LOCATION" \
        --sku Standard_LRS --kind StorageV2 --https-only true --min-tls-version TLS1_2 \
        --allow-blob-public-access false --output none
fi
shares=("$AZ_FILE_SHARE")
[[ $AZ_HTTPS_SIDECAR == 1 ]] && shares+=("$AZ_CADDY_SHARE")
for share in "${shares[@]}"; do
    # share-rm goes through Azure Resource Manager: no storage key on the command line.
    if ! az_exists storage share-rm show --storage-account "$AZ_STORAGE_ACCOUNT" \
        --resource-group "$AZ_RESOURCE_GROUP" --name "$share"; then
        az_run storage share-rm create --storage-account "$AZ_STORAGE_ACCOUNT" \
            --resource-group "$AZ_RESOURCE_GROUP" --name "$share" \
            --quota "$AZ_SHARE_QUOTA_GB" --enabled-protocols SMB --output none
    fi
done

log "managed identity $AZ_IDENTITY (AcrPull on $AZ_ACR_NAME)"
if ! az_exists identity show --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP"; then
    az_run identity create --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP" \
        --location "$AZ_LOCATION" --output none
fi
principal_id=$(az_value "PLANNED-$AZ_IDENTITY-principalId" identity show --name "$AZ_IDENTITY" \
    --resource-group "$AZ_RESOURCE_GROUP" --query principalId)
acr_id=$(az_value "PLANNED-$AZ_ACR_NAME-id" acr show --name "$AZ_ACR_NAME" \
    --resource-group "$AZ_RESOURCE_GROUP" --query id)
assignment=""
if ((!AZ_OFFLINE)); then
    assignment=$(az_query role assignment list --assignee "$principal_id" --role AcrPull \
        --scope "$acr_id" --query "[0].id" --output tsv 2>/dev/null) || assignment=""
fi
if [[ -z $assignment ]]; then
    # Needs Owner or User Access Administrator on the group (once; later runs skip it).
    az_run role assignment create --assignee-object-id "$principal_id" \
        --assignee-principal-type ServicePrincipal --role AcrPull --scope "$acr_id" --output none
    new_assignment=1
else
    new_assignment=0
fi

lookup_ids
log "container group $AZ_CONTAINER_GROUP"
if az_exists container show --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP"; then
    log "container group exists; azure/update.sh rolls out a new image or settings"
else
    if ((new_assignment && !DRY_RUN && AZ_ROLE_WAIT_SECONDS > 0)); then
        # A fresh role assignment takes a while to reach ACR's token service.
        log "waiting ${AZ_ROLE_WAIT_SECONDS}s for the AcrPull assignment to propagate"
        sleep "$AZ_ROLE_WAIT_SECONDS"
    fi
    apply_container_group
fi

log "done: $PUBLIC_URL (azure/status.sh shows state and logs)"
