#!/usr/bin/env bash
# Show the deployment: state of the container group, its URL, recent logs.
set -euo pipefail

# shellcheck source=azure/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: azure/status.sh [--dry-run] [--config FILE] [--tail N]

  --dry-run       print the az commands instead of running them
  --config FILE   settings (default: azure/config.env); the environment wins
  --tail N        how many log lines of each container to show (default 50)

With AZ_LOG_WORKSPACE set, the last errors of the past day follow: server
errors (5xx), exceptions and error log lines, from Application Insights.
EOF
}

parse_args "--tail" "$@"
load_config
preflight

# Everything here only reads, but --dry-run still means "run nothing".
status_cmd() {
    if ((DRY_RUN)); then
        az_run "$@"
    else
        az_query "$@"
    fi
}

if ((!DRY_RUN)) && ! az_exists container show --name "$AZ_CONTAINER_GROUP" \
    --resource-group "$AZ_RESOURCE_GROUP"; then
    die "no container group $AZ_CONTAINER_GROUP in $AZ_RESOURCE_GROUP (azure/deploy.sh creates it)"
fi

status_cmd container show --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP" \
    --query "{state: instanceView.state, fqdn: ipAddress.fqdn, ip: ipAddress.ip, image: containers[?name=='app'].image | [0], restarts: containers[?name=='app'].instanceView.restartCount | [0]}" \
    --output table
printf 'URL: %s\n' "$PUBLIC_URL"

containers=(app)
[[ $AZ_HTTPS_SIDECAR == 1 ]] && containers+=(caddy)
for container in "${containers[@]}"; do
    printf '\n--- last %s log lines of %s ---\n' "$TAIL_LINES" "$container"
    # az container logs has no --tail of its own.
    status_cmd container logs --name "$AZ_CONTAINER_GROUP" --resource-group "$AZ_RESOURCE_GROUP" \
        --container-name "$container" | tail -n "$TAIL_LINES"
done

((MONITORING_ON)) || exit 0
printf '\n--- last errors (Application Insights, past day) ---\n'
workspace=$(az_value "PLANNED-$AZ_LOG_WORKSPACE-customerId" monitor log-analytics workspace show \
    --resource-group "$AZ_RESOURCE_GROUP" --workspace-name "$AZ_LOG_WORKSPACE" --query customerId)
# `az monitor log-analytics query` is an extension; the query API itself is one az rest away.
query="union isfuzzy=true (AppRequests | where toint(ResultCode) >= 500 | project TimeGenerated, kind = strcat('http ', ResultCode), text = strcat(Name, ' request_id=', tostring(Properties.request_id))), (AppExceptions | project TimeGenerated, kind = 'exception', text = strcat(ExceptionType, ': ', OuterMessage)), (AppTraces | where SeverityLevel >= 3 | project TimeGenerated, kind = 'log', text = Message) | top $TAIL_LINES by TimeGenerated desc"
query=${query//\"/\\\"}
status_cmd rest --method post --url "https://api.loganalytics.io/v1/workspaces/$workspace/query" \
    --resource https://api.loganalytics.io --body "{\"query\": \"$query\", \"timespan\": \"P1D\"}" \
    --query "tables[0].rows" --output tsv
