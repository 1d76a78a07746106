#!/usr/bin/env bash
# Roll out a new image (and the current settings) to the running container
# group. The models live on the file share, which is mounted again unchanged.
set -euo pipefail

# shellcheck source=azure/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: azure/update.sh [--dry-run] [--config FILE] [--force-build] [--force] [--recreate]

Build the image for AZ_IMAGE_TAG if the registry lacks it, then update the
container group to run it with the settings of the config and environment.
The file share with the model registry is kept and mounted again.

  --dry-run       print every az command instead of changing anything
  --config FILE   settings (default: azure/config.env); the environment wins
  --force-build   build the image even when its tag is already in the registry
  --force         apply even when the group already runs this image
                  (to roll out changed settings or secrets)
  --recreate      delete the group first and create it again: needed when
                  AZ_CPU or AZ_MEMORY_GB change, which ACI cannot update in place
EOF
}

parse_args "--force-build --force --recreate" "$@"
load_config
trust_proxies "$AZ_HTTPS_SIDECAR"
resolve_image_tag
require_secrets
preflight

if ! az_exists container show --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP"; then
    ((DRY_RUN && AZ_OFFLINE)) || die "no container group $AZ_CONTAINER_GROUP: run azure/deploy.sh first"
fi
if ! az_exists storage share-rm show --storage-account "$AZ_STORAGE_ACCOUNT" \
    --resource-group "$AZ_RESOURCE_GROUP" --name "$AZ_FILE_SHARE"; then
    # Never start the app on a fresh share by mistake: that would look like lost models.
    ((DRY_RUN && AZ_OFFLINE)) || die "file share $AZ_FILE_SHARE not found in $AZ_STORAGE_ACCOUNT"
fi

ensure_image
ensure_caddy_image
if [[ $AZ_HTTPS_SIDECAR == 1 ]]; then
    # Caddy's certificates, in case the sidecar was off until now.
    ensure_storage "$AZ_CADDY_SHARE"
fi
ensure_operations
lookup_ids

running=""
if ((!AZ_OFFLINE)); then
    running=$(az_query container show --name "$AZ_CONTAINER_GROUP" \
        --resource-group "$AZ_RESOURCE_GROUP" \
        --query "containers[?name=='app'].image | [0]" --output tsv) || running=""
fi
wanted=$APP_IMAGE
if [[ $running == "$wanted" ]] && ((!FORCE && !RECREATE)); then
    log "$AZ_CONTAINER_GROUP already runs $wanted; --force applies the settings again"
    exit 0
fi

if ((RECREATE)); then
    log "deleting $AZ_CONTAINER_GROUP to create it again (the share and its models stay)"
    az_run container delete --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP" \
        --yes --output none
fi
log "container group $AZ_CONTAINER_GROUP: ${running:-?} -> $wanted"
apply_container_group
log "done: $PUBLIC_URL"
