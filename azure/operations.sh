# shellcheck shell=bash
# Variables assigned here are read through ${!name} by the templates:
# shellcheck disable=SC2034
# What an operator runs beside the app, each piece optional in config.env: a Key Vault
# with the secrets (AZ_KEY_VAULT), Log Analytics + Application Insights (AZ_LOG_WORKSPACE),
# and alert rules mailed to AZ_ALERT_EMAIL. Sourced by lib.sh.
#
# Application Insights and scheduled-query alert rules have az commands only in az
# extensions (application-insights, scheduled-query). These scripts use what every az has
# instead: `az resource create` with the resource type and a full JSON body, which needs
# no `az extension add` on the operator's machine or in CI, and which the offline parser
# check (make check-azure) can check with a plain `pip install azure-cli`.

# The vault's secret names for the variables the app reads (dsba/vault.py: SECRET_NAMES).
VAULT_SECRET_KEY=dsba-secret-key
VAULT_TOKENS=dsba-api-tokens
# Held in the vault when AZ_KEY_VAULT is set, so never in the container's environment.
VAULT_VARS="SECRET_KEY DSBA_API_TOKENS"
INSIGHTS_TYPE=Microsoft.Insights/components
INSIGHTS_API=2020-02-02
ALERT_TYPE=Microsoft.Insights/scheduledQueryRules
ALERT_API=2021-08-01

# operations_config: defaults and checks of the optional pieces (called by load_config).
operations_config() {
    : "${AZ_KEY_VAULT:=}"
    : "${AZ_KEY_VAULT_ADMIN:=}"
    : "${AZ_LOG_WORKSPACE:=}"
    : "${AZ_LOG_RETENTION_DAYS:=30}"
    : "${AZ_APP_INSIGHTS:=dsba-insights}"
    : "${AZ_ALERT_EMAIL:=}"
    : "${AZ_ACTION_GROUP:=dsba-alerts}"
    : "${AZ_ALERT_5XX:=5}"
    : "${AZ_ALERT_RESTARTS:=1}"
    : "${AZ_ALERT_DRIFT:=1}"
    if [[ -n $AZ_KEY_VAULT ]]; then
        [[ $AZ_KEY_VAULT =~ ^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$ ]] ||
            die "AZ_KEY_VAULT must be 3-24 letters, digits and hyphens, starting with a letter"
    fi
    if [[ -n $AZ_LOG_WORKSPACE ]]; then
        [[ $AZ_LOG_WORKSPACE =~ ^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$ ]] ||
            die "AZ_LOG_WORKSPACE must be 4-63 letters, digits and hyphens"
        [[ $AZ_LOG_RETENTION_DAYS =~ ^[0-9]+$ ]] || die "AZ_LOG_RETENTION_DAYS must be a number of days"
    fi
    if [[ -n $AZ_ALERT_EMAIL ]]; then
        [[ -n $AZ_LOG_WORKSPACE ]] || die "AZ_ALERT_EMAIL needs AZ_LOG_WORKSPACE: the alerts query it"
        [[ $AZ_ALERT_EMAIL =~ ^[^[:space:]@]+@[^[:space:]@]+$ ]] || die "AZ_ALERT_EMAIL is no e-mail address"
        local var
        for var in AZ_ALERT_5XX AZ_ALERT_RESTARTS AZ_ALERT_DRIFT; do
            [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a number (0 turns the alert off)"
        done
    fi
    # The app's Azure SDK packages go into the image when it talks to the vault or exports.
    if [[ -n $AZ_KEY_VAULT$AZ_LOG_WORKSPACE && -z ${AZ_IMAGE_EXTRAS_SET:-} ]]; then
        AZ_IMAGE_EXTRAS=${AZ_IMAGE_EXTRAS:+$AZ_IMAGE_EXTRAS,}azure
    fi
    VAULT_ON=0
    [[ -z $AZ_KEY_VAULT ]] || VAULT_ON=1
    MONITORING_ON=0
    [[ -z $AZ_LOG_WORKSPACE ]] || MONITORING_ON=1
}

# is_vault_var NAME: true when NAME's value lives in the Key Vault.
is_vault_var() { ((${VAULT_ON:-0})) && [[ " $VAULT_VARS " == *" $1 "* ]]; }

# vault_secret_name VARIABLE: REPLY set to the vault's name for it.
vault_secret_name() {
    case $1 in
        SECRET_KEY) REPLY=$VAULT_SECRET_KEY ;;
        DSBA_API_TOKENS) REPLY=$VAULT_TOKENS ;;
        *) die "no vault secret for $1" ;;
    esac
}

# grant_role ROLE SCOPE PRINCIPAL [TYPE]: a role assignment, unless it exists.
# Sets NEW_GRANT=1 when it was made just now.
grant_role() {
    local role=$1 scope=$2 principal=$3 type=${4:-} assignment="" typed=()
    NEW_GRANT=0
    if ((!AZ_OFFLINE)); then
        assignment=$(az_query role assignment list --assignee "$principal" --role "$role" \
            --scope "$scope" --query "[0].id" --output tsv 2>/dev/null) || assignment=""
    fi
    [[ -z $assignment ]] || return 0
    [[ -z $type ]] || typed=(--assignee-principal-type "$type")
    az_run role assignment create --assignee-object-id "$principal" ${typed[@]+"${typed[@]}"} \
        --role "$role" --scope "$scope" --output none
    NEW_GRANT=1
}

# ensure_key_vault: the RBAC vault, the deployer allowed to write its secrets, the app's
# identity allowed to read them; sets DSBA_KEY_VAULT_URL and AZURE_CLIENT_ID for the app.
ensure_key_vault() {
    ((VAULT_ON)) || return 0
    local vault_id admin principal_id
    log "key vault $AZ_KEY_VAULT (RBAC; Key Vault Secrets User for $AZ_IDENTITY)"
    if ! az_exists keyvault show --name "$AZ_KEY_VAULT" --resource-group "$AZ_RESOURCE_GROUP"; then
        # A deleted vault keeps its name for its retention days: take it back, secrets and all.
        if az_exists keyvault show-deleted --name "$AZ_KEY_VAULT"; then
            az_run keyvault recover --name "$AZ_KEY_VAULT" --output none
        else
            az_run keyvault create --name "$AZ_KEY_VAULT" --resource-group "$AZ_RESOURCE_GROUP" \
                --location "$AZ_LOCATION" --enable-rbac-authorization true --output none
        fi
    fi
    vault_id=$(az_value "$(planned_id Microsoft.KeyVault/vaults "$AZ_KEY_VAULT")" keyvault show --name "$AZ_KEY_VAULT" \
        --resource-group "$AZ_RESOURCE_GROUP" --query id)
    DSBA_KEY_VAULT_URL=$(az_value "https://$AZ_KEY_VAULT.vault.azure.net/" keyvault show \
        --name "$AZ_KEY_VAULT" --resource-group "$AZ_RESOURCE_GROUP" --query properties.vaultUri)
    DSBA_KEY_VAULT_URL=${DSBA_KEY_VAULT_URL%/}
    export DSBA_KEY_VAULT_URL
    # Who writes the secrets: an RBAC vault lets nobody in by default, not even an Owner.
    admin=$AZ_KEY_VAULT_ADMIN
    if [[ -z $admin ]]; then
        admin=$(az_value "00000000-0000-0000-0000-0000000000ad" ad signed-in-user show --query id) ||
            die "set AZ_KEY_VAULT_ADMIN to the object id of the principal that runs the deploy"
    fi
    grant_role "Key Vault Secrets Officer" "$vault_id" "$admin"
    local new_admin=$NEW_GRANT
    principal_id=$(az_value "PLANNED-$AZ_IDENTITY-principalId" identity show \
        --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP" --query principalId)
    grant_role "Key Vault Secrets User" "$vault_id" "$principal_id" ServicePrincipal
    ((NEW_GRANT)) && NEW_PULL_GRANT=1
    AZURE_CLIENT_ID=$(az_value "PLANNED-$AZ_IDENTITY-clientId" identity show \
        --name "$AZ_IDENTITY" --resource-group "$AZ_RESOURCE_GROUP" --query clientId)
    export AZURE_CLIENT_ID
    if ((new_admin && !DRY_RUN && AZ_ROLE_WAIT_SECONDS > 0)); then
        log "waiting ${AZ_ROLE_WAIT_SECONDS}s for the Key Vault Secrets Officer grant to propagate"
        sleep "$AZ_ROLE_WAIT_SECONDS"
    fi
    ensure_vault_secrets
}

# vault_read NAME: a secret's value into REPLY ("" when absent); never printed.
vault_read() {
    REPLY=""
    ((AZ_OFFLINE)) && return 0
    REPLY=$(az_query keyvault secret show --vault-name "$AZ_KEY_VAULT" --name "$1" \
        --query value --output tsv 2>/dev/null) || REPLY=""
}

# vault_write NAME WRITER...: store what the command WRITER... prints as the secret NAME,
# through a private file: the value is never in argv, in a variable az prints, or in a log.
vault_write() {
    local name=$1
    shift
    if ((DRY_RUN)); then
        trace "+" az keyvault secret set --vault-name "$AZ_KEY_VAULT" --name "$name" \
            --file "$name.txt" --encoding utf-8 --output none
        return 0
    fi
    private_dir
    (
        umask 077
        "$@" >"$PRIVATE_DIR/$name.txt"
    )
    az_run keyvault secret set --vault-name "$AZ_KEY_VAULT" --name "$name" \
        --file "$PRIVATE_DIR/$name.txt" --encoding utf-8 --output none
    rm -f "$PRIVATE_DIR/$name.txt"
}

# new_secret_key: 32 random bytes as hex, straight from the kernel to stdout.
new_secret_key() { od -An -vtx1 -N32 /dev/urandom | tr -d ' \n'; }
print_var() { printf '%s' "${!1}"; }

# ensure_vault_secrets: SECRET_KEY (given, or generated on the first deploy) and the token
# table (given, or already in the vault from an earlier deploy or azure/token.sh).
ensure_vault_secrets() {
    vault_read "$VAULT_SECRET_KEY"
    if [[ -n ${SECRET_KEY:-} && $REPLY != "$SECRET_KEY" ]]; then
        log "secret $VAULT_SECRET_KEY: from SECRET_KEY"
        vault_write "$VAULT_SECRET_KEY" print_var SECRET_KEY
    elif [[ -z $REPLY ]]; then
        log "secret $VAULT_SECRET_KEY: generated"
        vault_write "$VAULT_SECRET_KEY" new_secret_key
    fi
    vault_read "$VAULT_TOKENS"
    if [[ -n ${DSBA_API_TOKENS:-} && $REPLY != "$DSBA_API_TOKENS" ]]; then
        log "secret $VAULT_TOKENS: from DSBA_API_TOKENS"
        vault_write "$VAULT_TOKENS" print_var DSBA_API_TOKENS
    elif [[ -z $REPLY ]]; then
        ((DRY_RUN)) || [[ $DSBA_ENV != production ]] ||
            die "no API token yet: azure/token.sh add NAME (or export DSBA_API_TOKENS), then run this again"
        warn "no API token in $AZ_KEY_VAULT yet: azure/token.sh add NAME before a real run"
    fi
    REPLY=""
}

# ensure_monitoring: the Log Analytics workspace and the workspace-based Application
# Insights; sets the ids the templates and alerts need and the app's connection string.
ensure_monitoring() {
    ((MONITORING_ON)) || return 0
    local ws=(--resource-group "$AZ_RESOURCE_GROUP" --workspace-name "$AZ_LOG_WORKSPACE")
    local insights=(--resource-group "$AZ_RESOURCE_GROUP" --name "$AZ_APP_INSIGHTS"
        --resource-type "$INSIGHTS_TYPE")
    log "Log Analytics workspace $AZ_LOG_WORKSPACE, Application Insights $AZ_APP_INSIGHTS"
    if ! az_exists monitor log-analytics workspace show "${ws[@]}"; then
        az_run monitor log-analytics workspace create "${ws[@]}" --location "$AZ_LOCATION" \
            --retention-time "$AZ_LOG_RETENTION_DAYS" --output none
    fi
    WORKSPACE_ID=$(az_value "$(planned_id Microsoft.OperationalInsights/workspaces "$AZ_LOG_WORKSPACE")" monitor log-analytics workspace show \
        "${ws[@]}" --query id)
    WORKSPACE_CUSTOMER_ID=$(az_value "PLANNED-$AZ_LOG_WORKSPACE-customerId" \
        monitor log-analytics workspace show "${ws[@]}" --query customerId)
    if ! az_exists resource show "${insights[@]}"; then
        local body
        printf -v body '{"location": "%s", "kind": "web", "properties": {"Application_Type": "web", "WorkspaceResourceId": "%s", "IngestionMode": "LogAnalytics"}}' \
            "$AZ_LOCATION" "$WORKSPACE_ID"
        az_run resource create "${insights[@]}" --api-version "$INSIGHTS_API" \
            --is-full-object --properties "$body" --output none
    fi
    INSIGHTS_ID=$(az_value "$(planned_id "$INSIGHTS_TYPE" "$AZ_APP_INSIGHTS")" resource show "${insights[@]}" --query id)
    # Sent to the app as a secure value: it lets anyone write telemetry into the resource.
    APPLICATIONINSIGHTS_CONNECTION_STRING=$(az_value "PLANNED-connection-string" resource show \
        "${insights[@]}" --query properties.ConnectionString)
    export APPLICATIONINSIGHTS_CONNECTION_STRING
}

# load_workspace_key: the workspace's shared key, which ACI's log shipping needs (a variable only).
load_workspace_key() {
    WORKSPACE_KEY=$(az_value "" monitor log-analytics workspace get-shared-keys \
        --resource-group "$AZ_RESOURCE_GROUP" --workspace-name "$AZ_LOG_WORKSPACE" \
        --query primarySharedKey)
}

# alert_rule NAME THRESHOLD MINUTES DESCRIPTION QUERY: a log alert on the workspace that
# fires when QUERY returns more than THRESHOLD rows in MINUTES (THRESHOLD 0: rule off).
alert_rule() {
    local name=$1 threshold=$2 minutes=$3 description=$4 query=$5 body
    local rule=(--resource-group "$AZ_RESOURCE_GROUP" --name "$name" --resource-type "$ALERT_TYPE")
    az_exists resource show "${rule[@]}" && return 0
    query=${query//\\/\\\\}
    query=${query//\"/\\\"}
    printf -v body '{"location": "%s", "kind": "LogAlert", "properties": {"displayName": "%s", "description": "%s", "severity": 2, "enabled": true, "evaluationFrequency": "PT5M", "windowSize": "PT%sM", "scopes": ["%s"], "criteria": {"allOf": [{"query": "%s", "timeAggregation": "Count", "operator": "GreaterThan", "threshold": %s, "failingPeriods": {"numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1}}]}, "actions": {"actionGroups": ["%s"]}, "autoMitigate": true}}' \
        "$AZ_LOCATION" "$name" "$description" "$minutes" "$WORKSPACE_ID" "$query" "$threshold" \
        "$ACTION_GROUP_ID"
    az_run resource create "${rule[@]}" --api-version "$ALERT_API" --is-full-object \
        --properties "$body" --output none
}

# ensure_alerts: the action group mailing AZ_ALERT_EMAIL and each alert not turned off.
ensure_alerts() {
    [[ -n $AZ_ALERT_EMAIL ]] || return 0
    local group=(--name "$AZ_ACTION_GROUP" --resource-group "$AZ_RESOURCE_GROUP")
    log "alerts to $AZ_ALERT_EMAIL (action group $AZ_ACTION_GROUP)"
    if ! az_exists monitor action-group show "${group[@]}"; then
        az_run monitor action-group create "${group[@]}" --short-name dsba \
            --action email operator "$AZ_ALERT_EMAIL" --output none
    fi
    ACTION_GROUP_ID=$(az_value "$(planned_id microsoft.insights/actionGroups "$AZ_ACTION_GROUP")" monitor action-group show \
        "${group[@]}" --query id)
    if ((AZ_ALERT_5XX > 0)); then
        alert_rule dsba-5xx "$AZ_ALERT_5XX" 5 \
            "more than $AZ_ALERT_5XX server errors (5xx) in 5 minutes" \
            "AppRequests | where toint(ResultCode) >= 500"
    fi
    if ((AZ_ALERT_RESTARTS > 0)); then
        # ACI ships container events to ContainerEvent_CL, Container Apps to
        # ContainerAppSystemLogs; isfuzzy: the table of the other one may not exist.
        alert_rule dsba-restarts "$((AZ_ALERT_RESTARTS - 1))" 15 \
            "the app container restarted $AZ_ALERT_RESTARTS time(s) or more in 15 minutes" \
            "union isfuzzy=true (ContainerEvent_CL | where Reason_s in ('Killing', 'BackOff') | project TimeGenerated), (ContainerAppSystemLogs | where Reason in ('ContainerTerminated', 'ContainerCrashing', 'BackOff') | project TimeGenerated)"
    fi
    if ((AZ_ALERT_DRIFT > 0)); then
        alert_rule dsba-drift 0 60 "a model's monitoring status is drift" \
            "AppMetrics | where Name == 'dsba.model.monitoring_status' and tostring(Properties.status) == 'drift' and Sum > 0 | summarize by model = tostring(Properties.model), version = tostring(Properties.version)"
    fi
}

# ensure_operations: vault, monitoring and alerts, each only where configured.
ensure_operations() {
    ensure_monitoring
    ensure_alerts
    ensure_key_vault
}
