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
and the container group (app + Caddy HTTPS sidecar). Where config.env names them:
a Key Vault holding SECRET_KEY (generated on the first deploy when not given)
and the API token table (AZ_KEY_VAULT), a Log Analytics workspace with
Application Insights (AZ_LOG_WORKSPACE), and alerts mailed to AZ_ALERT_EMAIL.

  --dry-run       print every az command instead of changing anything
                  (read-only queries still run, to plan against what exists)
  --config FILE   settings (default: azure/config.env); the environment wins
  --force-build   build the image even when its tag is already in the registry

Secrets come from the environment: SECRET_KEY, DSBA_API_TOKENS; with a Key
Vault, from the vault (the environment's values, when given, are stored there).
EOF
}

parse_args "--force-build" "$@"
load_config
trust_proxies "$AZ_HTTPS_SIDECAR"
resolve_image_tag
require_secrets
preflight

ensure_group
ensure_registry
ensure_image
ensure_caddy_image
shares=("$AZ_FILE_SHARE")
[[ $AZ_HTTPS_SIDECAR == 1 ]] && shares+=("$AZ_CADDY_SHARE")
ensure_storage "${shares[@]}"
ensure_pull_identity
ensure_operations
lookup_ids

log "container group $AZ_CONTAINER_GROUP"
if az_exists container show --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP"; then
    log "container group exists; azure/update.sh rolls out a new image or settings"
else
    wait_for_pull_grant
    apply_container_group
fi

log "done: $PUBLIC_URL (azure/status.sh shows state and logs)"
