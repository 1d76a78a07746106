# shellcheck shell=bash
# Variables assigned here are read through ${!name} by the templates:
# shellcheck disable=SC2034
# The Azure resources that both deployments (ACI: deploy.sh, update.sh; Container
# Apps: deploy-aca.sh) share, each created only when a `show` does not find it.
# Sourced by lib.sh.

# ensure_group: the resource group that holds everything.
ensure_group() {
    log "resource group $AZ_RESOURCE_GROUP"
    az_exists group show --name "$AZ_RESOURCE_GROUP" && return 0
    az_run group create --name "$AZ_RESOURCE_GROUP" --location "$AZ_LOCATION" --output none
}

# ensure_registry: the container registry, without an admin user: pulls go through the identity.
ensure_registry() {
    log "container registry $AZ_ACR_NAME"
    az_exists acr show --name "$AZ_ACR_NAME" --resource-group "$AZ_RESOURCE_GROUP" && return 0
    az_run acr create --name "$AZ_ACR_NAME" --resource-group "$AZ_RESOURCE_GROUP" \
        --location "$AZ_LOCATION" --sku Basic --admin-enabled false --output none
}

# ensure_image: build the app image in ACR unless that tag is already there.
ensure_image() {
    local ref="$AZ_IMAGE_NAME:$AZ_IMAGE_TAG"
    if ((FORCE_BUILD)); then
        log "image $ref: build forced"
    elif [[ $AZ_IMAGE_TAG == *-dirty || $AZ_IMAGE_TAG == *-dirty-${AZ_IMAGE_EXTRAS//,/-} ]]; then
        # A dirty tree has no stable tag: the same name may hold other code.
        log "image $ref: uncommitted changes, building again"
    elif az_exists acr repository show --name "$AZ_ACR_NAME" --image "$ref"; then
        log "image $ref: already in $AZ_ACR_NAME"
        return 0
    fi
    local extras=()
    [[ -z $AZ_IMAGE_EXTRAS ]] || extras=(--build-arg "DSBA_EXTRAS=$AZ_IMAGE_EXTRAS")
    # ACR builds it, so no local Docker is needed; .dockerignore trims the upload.
    az_run acr build --registry "$AZ_ACR_NAME" --image "$ref" ${extras[@]+"${extras[@]}"} \
        --file "$PROJECT_ROOT/Dockerfile" --platform linux/amd64 "$PROJECT_ROOT"
}

# ensure_caddy_image [always]: a copy of Caddy in our ACR, pulled by the same
# identity and spared Docker Hub's anonymous pull limits. ACI needs it for the
# HTTPS sidecar; Container Apps always runs it (pass "always").
ensure_caddy_image() {
    [[ $AZ_HTTPS_SIDECAR == 1 || ${1:-} == always ]] || return 0
    if az_exists acr repository show --name "$AZ_ACR_NAME" --image "$AZ_CADDY_IMAGE"; then
        log "image $AZ_CADDY_IMAGE: already in $AZ_ACR_NAME"
        return 0
    fi
    az_run acr import --name "$AZ_ACR_NAME" --source "$AZ_CADDY_SOURCE" --image "$AZ_CADDY_IMAGE"
}

# ensure_storage SHARE...: the storage account and the given file shares.
ensure_storage() {
    local share
    log "storage account $AZ_STORAGE_ACCOUNT, shares $*"
    if ! az_exists storage account show --name "$AZ_STORAGE_ACCOUNT" \
        --resource-group "$AZ_RESOURCE_GROUP"; then
        az_run storage account create --name "$AZ_STORAGE_ACCOUNT" \
            --resource-group "$AZ_RESOURCE_GROUP" --location "$AZ_LOCATION" \
            --sku Standard_LRS --kind StorageV2 --https-only true --min-tls-version TLS1_2 \
            --allow-blob-public-access false --output none
    fi
    for share in "$@"; do
        # share-rm goes through Azure Resource Manager: no storage key on the command line.
        az_exists storage share-rm show --storage-account "$AZ_STORAGE_ACCOUNT" \
            --resource-group "$AZ_RESOURCE_GROUP" --name "$share" && continue
        az_run storage share-rm create --storage-account "$AZ_STORAGE_ACCOUNT" \
            --resource-group "$AZ_RESOURCE_GROUP" --name "$share" \
            --quota "$AZ_SHARE_QUOTA_GB" --enabled-protocols SMB --output none
    done
}

# ensure_pull_identity: the user-assigned identity with AcrPull on the registry.
# Sets NEW_PULL_GRANT=1 when the grant was made just now.
ensure_pull_identity() {
    local principal_id acr_id assignment=""
    log "managed identity $AZ_IDENTITY (AcrPull on $AZ_ACR_NAME)"
    if ! az_exists identity show --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP"; then
        az_run identity create --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP" \
            --location "$AZ_LOCATION" --output none
    fi
    principal_id=$(az_value "PLANNED-$AZ_IDENTITY-principalId" identity show \
        --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP" --query principalId)
    acr_id=$(az_value "PLANNED-$AZ_ACR_NAME-id" acr show --name "$AZ_ACR_NAME" \
        --resource-group "$AZ_RESOURCE_GROUP" --query id)
    if ((!AZ_OFFLINE)); then
        assignment=$(az_query role assignment list --assignee "$principal_id" --role AcrPull \
            --scope "$acr_id" --query "[0].id" --output tsv 2>/dev/null) || assignment=""
    fi
    NEW_PULL_GRANT=0
    [[ -z $assignment ]] || return 0
    # Needs Owner or User Access Administrator (once; later runs find it and skip).
    az_run role assignment create --assignee-object-id "$principal_id" \
        --assignee-principal-type ServicePrincipal --role AcrPull --scope "$acr_id" --output none
    NEW_PULL_GRANT=1
}

# wait_for_pull_grant: a fresh role assignment takes a while to reach ACR.
wait_for_pull_grant() {
    ((NEW_PULL_GRANT && !DRY_RUN && AZ_ROLE_WAIT_SECONDS > 0)) || return 0
    log "waiting ${AZ_ROLE_WAIT_SECONDS}s for the AcrPull grant to propagate"
    sleep "$AZ_ROLE_WAIT_SECONDS"
}

# lookup_ids: what the templates need from resources that exist (or are planned).
lookup_ids() {
    ACR_SERVER=$(az_value "${AZ_ACR_NAME,,}.azurecr.io" acr show --name "$AZ_ACR_NAME" \
        --resource-group "$AZ_RESOURCE_GROUP" --query loginServer)
    IDENTITY_ID=$(az_value "PLANNED-$AZ_IDENTITY-id" identity show --name "$AZ_IDENTITY" \
        --resource-group "$AZ_RESOURCE_GROUP" --query id)
    APP_IMAGE="$ACR_SERVER/$AZ_IMAGE_NAME:$AZ_IMAGE_TAG"
    CADDY_IMAGE_REF="$ACR_SERVER/$AZ_CADDY_IMAGE"
}

# load_storage_key: the storage account key, into a variable only (mount needs it).
load_storage_key() {
    STORAGE_KEY=$(az_value "" storage account keys list --account-name "$AZ_STORAGE_ACCOUNT" \
        --resource-group "$AZ_RESOURCE_GROUP" --query "[0].value")
}

# show_masked TEMPLATE: with --dry-run, the rendered template with secrets masked.
show_masked() {
    {
        printf -- '--- %s (secrets masked) ---\n' "${1%.tmpl}"
        render_template "$1" masked
        printf -- '--- end %s ---\n' "${1%.tmpl}"
    } >&3
}

# apply_container_group: create (or update) the ACI group from aci.yaml.tmpl. The
# rendered file holds the secrets, so it exists only in the private folder and
# only until az has read it; argv carries its path, never a secret.
apply_container_group() {
    if ((DRY_RUN)); then
        trace "+" az container create --resource-group "$AZ_RESOURCE_GROUP" --file aci.yaml
        show_masked aci.yaml.tmpl
        return 0
    fi
    load_storage_key
    ((!MONITORING_ON)) || load_workspace_key
    private_dir
    (
        umask 077
        render_template aci.yaml.tmpl secret >"$PRIVATE_DIR/aci.yaml"
    )
    az_run container create --resource-group "$AZ_RESOURCE_GROUP" \
        --file "$PRIVATE_DIR/aci.yaml" --output none
    drop_private_dir
}
