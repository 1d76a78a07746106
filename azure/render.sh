# shellcheck shell=bash
# Variables assigned here are read through ${!name} by the templates:
# shellcheck disable=SC2034
# The YAML templates' renderer (aci.yaml.tmpl, containerapp.yaml.tmpl), sourced by lib.sh.
#
# Template syntax: {{NAME}} becomes the variable NAME as a single-quoted YAML
# string, {{#NAME}} a number, {{%NAME}} a double-quoted string that may span
# lines (a file's contents); a line holding only {{BLOCK}} is replaced by the
# output of `emit_block BLOCK INDENT` (environment and secret lists); lines
# `#% if NAME`, `#% else`, `#% endif` keep a block when NAME is 1. Other lines
# starting with # are comments for the template's readers and are dropped.
#
# MODE is "secret" (the real values, for a private file) or "masked" (*** for
# every secret, for --dry-run output).

# yaml_str VALUE: REPLY set to VALUE as a single-quoted YAML scalar (a
# variable, not output: no subshell for each of the template's values).
yaml_str() {
    [[ $1 != *$'\n'* ]] || die "multi-line values are not supported in the container environment"
    REPLY="'${1//\'/\'\'}'"
}

# yaml_dq VALUE: REPLY set to VALUE as a double-quoted YAML scalar, lines and tabs escaped.
yaml_dq() {
    local value=${1//\\/\\\\}
    value=${value//\"/\\\"}
    value=${value//$'\n'/\\n}
    value=${value//$'\t'/\\t}
    REPLY="\"$value\""
}

is_secret() { [[ " $AZ_SECRET_VARS ${AZ_OPTIONAL_SECRET_VARS:-} " == *" $1 "* ]]; }

# secret_ref NAME: REF set to NAME as a Container Apps secret name (lowercase, dashes).
secret_ref() {
    REF=${1,,}
    REF=${REF//_/-}
}

# app_env_names: the variables handed to the app container: every DSBA_* set
# in the config or the environment (but the two the image fixes),
# WEB_CONCURRENCY, and the secrets.
app_env_names() {
    local name
    for name in $(compgen -v DSBA_) WEB_CONCURRENCY AZURE_CLIENT_ID $AZ_SECRET_VARS \
        ${AZ_OPTIONAL_SECRET_VARS:-}; do
        case $name in DSBA_REGISTRY_DIR | DSBA_BIND) continue ;; esac
        # Container Apps refers to the vault's secrets; ACI has no such references: there
        # the app reads them from the vault itself (DSBA_KEY_VAULT_URL).
        if is_vault_var "$name"; then
            ((${VAULT_REFS:-0})) && printf '%s\n' "$name"
            continue
        fi
        [[ -n ${!name:-} ]] && printf '%s\n' "$name"
    done | sort -u
}

# emit_block BLOCK INDENT MODE: the YAML lines of a list the template asks for.
emit_block() {
    local block=$1 indent=$2 mode=$3 name value
    while IFS= read -r name; do
        value=${!name:-}
        [[ $mode == masked ]] && is_secret "$name" && value='***'
        case $block in
            ACI_ENV) # ACI: secrets are secureValue, hidden by Azure once set.
                yaml_str "$value"
                printf '%s- name: %s\n' "$indent" "$name"
                if is_secret "$name"; then
                    printf '%s  secureValue: %s\n' "$indent" "$REPLY"
                else
                    printf '%s  value: %s\n' "$indent" "$REPLY"
                fi
                ;;
            ACA_ENV) # Container Apps: secrets live in the app, the env refers to them.
                yaml_str "$value"
                secret_ref "$name"
                printf '%s- name: %s\n' "$indent" "$name"
                if is_secret "$name"; then
                    printf '%s  secretRef: %s\n' "$indent" "$REF"
                else
                    printf '%s  value: %s\n' "$indent" "$REPLY"
                fi
                ;;
            ACA_SECRETS)
                is_secret "$name" || continue
                secret_ref "$name"
                printf '%s- name: %s\n' "$indent" "$REF"
                if is_vault_var "$name"; then
                    # A Key Vault reference, read by the app's identity: no value in the app.
                    vault_secret_name "$name"
                    yaml_str "$DSBA_KEY_VAULT_URL/secrets/$REPLY"
                    printf '%s  keyVaultUrl: %s\n' "$indent" "$REPLY"
                    yaml_str "$IDENTITY_ID"
                    printf '%s  identity: %s\n' "$indent" "$REPLY"
                else
                    yaml_str "$value"
                    printf '%s  value: %s\n' "$indent" "$REPLY"
                fi
                ;;
            *) die "unknown template block $block" ;;
        esac
    done < <(app_env_names)
}

# render_template FILE MODE: the template in azure/FILE, filled in, on stdout.
render_template() {
    local template=$AZURE_DIR/$1 mode=$2 line name value match out keep=1
    if [[ $mode == masked ]]; then
        local STORAGE_KEY='***' WORKSPACE_KEY='***'
    fi
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line =~ ^#%[[:space:]]*if[[:space:]]+([A-Za-z_][A-Za-z0-9_]*) ]]; then
            name=${BASH_REMATCH[1]}
            keep=0
            if [[ ${!name:-0} == 1 ]]; then keep=1; fi
            continue
        elif [[ $line =~ ^#%[[:space:]]*else ]]; then
            keep=$((1 - keep))
            continue
        elif [[ $line =~ ^#%[[:space:]]*endif ]]; then
            keep=1
            continue
        fi
        [[ $line =~ ^[[:space:]]*# ]] && continue
        ((keep)) || continue
        if [[ $line =~ ^([[:space:]]*)\{\{(ACI_ENV|ACA_ENV|ACA_SECRETS)\}\}$ ]]; then
            emit_block "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" "$mode"
            continue
        fi
        # Left to right, so that a value that looks like a placeholder stays as it is.
        out=""
        while [[ $line =~ \{\{([#%]?)([A-Za-z_][A-Za-z0-9_]*)\}\} ]]; do
            match=${BASH_REMATCH[0]}
            name=${BASH_REMATCH[2]}
            value=${!name?"template variable $name is not set"}
            out+=${line%%"$match"*}
            if [[ ${BASH_REMATCH[1]} == "#" ]]; then
                [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$name must be a number, got $value"
                out+=$value
            elif [[ ${BASH_REMATCH[1]} == "%" ]]; then
                yaml_dq "$value"
                out+=$REPLY
            else
                yaml_str "$value"
                out+=$REPLY
            fi
            line=${line#*"$match"}
        done
        printf '%s%s\n' "$out" "$line"
    done <"$template"
}
