#!/usr/bin/env bash
# Delete the deployment. Asks first; --keep-storage keeps the models.
set -euo pipefail

# shellcheck source=azure/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: azure/teardown.sh [--dry-run] [--config FILE] [--keep-storage] [--yes]

Without --keep-storage: delete the whole resource group, including the storage
account and the model registry on its file share.
With --keep-storage: delete the container group, the Container Apps app and
environment (azure/deploy-aca.sh), the container registry and the managed
identity; keep the resource group and the storage account, so a later
azure/deploy.sh finds every model where it was.

  --dry-run       print every az command instead of changing anything
  --config FILE   settings (default: azure/config.env); the environment wins
  --keep-storage  keep the storage account and its file shares
  --yes, -y       do not ask (otherwise "yes" must be typed on stdin)
EOF
}

parse_args "--keep-storage --yes -y" "$@"
load_config
preflight

if ((!AZ_OFFLINE)) && ! az_exists group show --name "$AZ_RESOURCE_GROUP"; then
    log "resource group $AZ_RESOURCE_GROUP does not exist: nothing to delete"
    exit 0
fi

if ((KEEP_STORAGE)); then
    question="Delete container group $AZ_CONTAINER_GROUP, container app $AZ_ACA_APP, registry"
    question+=" $AZ_ACR_NAME and identity $AZ_IDENTITY (keeping storage account"
    question+=" $AZ_STORAGE_ACCOUNT and its models)?"
else
    question="Delete resource group $AZ_RESOURCE_GROUP and EVERYTHING in it,"
    question+=" including the models on share $AZ_FILE_SHARE?"
fi
# A dry run changes nothing, so it need not ask.
((DRY_RUN)) || confirm "$question"

if ((!KEEP_STORAGE)); then
    az_run group delete --name "$AZ_RESOURCE_GROUP" --yes
    log "deleted resource group $AZ_RESOURCE_GROUP"
    exit 0
fi

if az_exists container show --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP" ||
    ((AZ_OFFLINE)); then
    az_run container delete --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP" \
        --yes --output none
fi
if az_exists containerapp show --name "$AZ_ACA_APP" --resource-group "$AZ_RESOURCE_GROUP"; then
    az_run containerapp delete --name "$AZ_ACA_APP" --resource-group "$AZ_RESOURCE_GROUP" \
        --yes --output none
fi
if az_exists containerapp env show --name "$AZ_ACA_ENV" --resource-group "$AZ_RESOURCE_GROUP"; then
    az_run containerapp env delete --name "$AZ_ACA_ENV" --resource-group "$AZ_RESOURCE_GROUP" \
        --yes --output none
fi
# Deleting the registry also removes the AcrPull assignment scoped to it.
if az_exists acr show --name "$AZ_ACR_NAME" --resource-group "$AZ_RESOURCE_GROUP" ||
    ((AZ_OFFLINE)); then
    az_run acr delete --name "$AZ_ACR_NAME" --resource-group "$AZ_RESOURCE_GROUP" --yes
fi
if az_exists identity show --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP" ||
    ((AZ_OFFLINE)); then
    az_run identity delete --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP"
fi
log "kept storage account $AZ_STORAGE_ACCOUNT (shares $AZ_FILE_SHARE, $AZ_CADDY_SHARE)"
