"""Key Vault, Azure Monitor and alerts in the azure/ scripts, against the recording fake az."""

from __future__ import annotations

import json
import re
import shlex

import pytest


@pytest.fixture
def given(azure) -> dict[str, str]:
    """The distinctive secrets of the sandbox (conftest), by name."""
    state = azure.state()
    return {
        "SECRET_KEY": azure.env["SECRET_KEY"],
        "DSBA_API_TOKENS": azure.env["DSBA_API_TOKENS"],
        "WORKSPACE_KEY": state["workspace_key"],
        "CONNECTION_STRING": state["connection_string"],
    }


OPS = {
    "AZ_KEY_VAULT": "dsbatestkv",
    "AZ_LOG_WORKSPACE": "dsba-test-logs",
    "AZ_ALERT_EMAIL": "ops@example.com",
}
VAULT_URL = "https://dsbatestkv.vault.azure.net"  # the fake answers --query with this placeholder


def app_env(group: dict) -> dict[str, dict]:
    [app] = [c["properties"] for c in group["properties"]["containers"] if c["name"] == "app"]
    return {item["name"]: item for item in app["environmentVariables"]}


def created_resources(result) -> list[str]:
    """`az resource create` calls as '<resource type> <name>'."""
    out = []
    for argv in result.calls:
        if argv[:2] == ["resource", "create"]:
            kind, name = argv[argv.index("--resource-type") + 1], argv[argv.index("--name") + 1]
            out.append(f"{kind} {name}")
    return out


def test_dry_run_on_a_fresh_subscription_plans_vault_roles_workspace_and_alerts(azure):
    result = azure.run("deploy.sh", "--dry-run", **OPS)
    assert result.returncode == 0, result.stderr
    assert result.mutations() == []
    plan = result.plan()
    for expected in [
        "az keyvault create --name dsbatestkv",
        "az role assignment create --assignee-object-id 99999999",  # the deployer: Officer
        "az keyvault secret set --vault-name dsbatestkv --name dsba-secret-key --file",
        "az keyvault secret set --vault-name dsbatestkv --name dsba-api-tokens --file",
        "az monitor log-analytics workspace create",
        "az resource create --resource-group dsba-test-rg --name dsba-insights",
        "az monitor action-group create --name dsba-alerts",
        "az resource create --resource-group dsba-test-rg --name dsba-5xx",
        "az resource create --resource-group dsba-test-rg --name dsba-restarts",
        "az resource create --resource-group dsba-test-rg --name dsba-drift",
    ]:
        assert any(p.startswith(expected) for p in plan), (expected, plan)
    roles = [shlex.split(p) for p in plan if p.startswith("az role assignment create")]
    assert [r[r.index("--role") + 1] for r in roles] == [
        "AcrPull",
        "Key Vault Secrets Officer",
        "Key Vault Secrets User",
    ]
    assert "ServicePrincipal" in roles[-1]
    # Built with the azure extra, since the app reads the vault and exports telemetry.
    [build] = [p for p in plan if p.startswith("az acr build")]
    assert "DSBA_EXTRAS=azure" in build and "v1.2.3-azure" in build
    env = app_env(result.printed_yaml())
    assert env["DSBA_KEY_VAULT_URL"]["value"] == VAULT_URL
    assert env["AZURE_CLIENT_ID"]["value"]
    assert env["APPLICATIONINSIGHTS_CONNECTION_STRING"]["secureValue"] == "***"
    # The vault holds them: the container's environment has neither.
    assert "SECRET_KEY" not in env and "DSBA_API_TOKENS" not in env
    diagnostics = result.printed_yaml()["properties"]["diagnostics"]["logAnalytics"]
    assert diagnostics["workspaceKey"] == "***"


def test_deploy_stores_the_secrets_through_files_and_grants_the_identity(azure, given):
    result = azure.run("deploy.sh", **OPS)
    assert result.returncode == 0, result.stderr
    assert result.mutations() == [
        "group create",
        "acr create",
        "acr build",
        "acr import",
        "storage account create",
        "storage share-rm create",
        "storage share-rm create",
        "identity create",
        "role assignment create",
        "monitor log-analytics workspace create",
        "resource create",
        "monitor action-group create",
        "resource create",
        "resource create",
        "resource create",
        "keyvault create",
        "role assignment create",
        "role assignment create",
        "keyvault secret set",
        "keyvault secret set",
        "container create",
    ]
    assert azure.state()["secrets"] == {
        "dsba-secret-key": given["SECRET_KEY"],
        "dsba-api-tokens": given["DSBA_API_TOKENS"],
    }
    assert created_resources(result) == [
        "Microsoft.Insights/components dsba-insights",
        "Microsoft.Insights/scheduledQueryRules dsba-5xx",
        "Microsoft.Insights/scheduledQueryRules dsba-restarts",
        "Microsoft.Insights/scheduledQueryRules dsba-drift",
    ]
    group = result.applied_yaml()
    env = app_env(group)
    assert "SECRET_KEY" not in env and "DSBA_API_TOKENS" not in env
    assert env["APPLICATIONINSIGHTS_CONNECTION_STRING"]["secureValue"] == given["CONNECTION_STRING"]
    logs = group["properties"]["diagnostics"]["logAnalytics"]
    assert logs["workspaceKey"] == given["WORKSPACE_KEY"]
    assert logs["logType"] == "ContainerInstanceLogs"
    user = [c for c in result.calls if c[:3] == ["role", "assignment", "create"]][-1]
    assert user[user.index("--role") + 1] == "Key Vault Secrets User"
    assert user[user.index("--scope") + 1].endswith("/keyvault/dsbatestkv")


def test_alert_rules_query_the_workspace_and_mail_the_action_group(azure):
    result = azure.run("deploy.sh", **OPS, AZ_ALERT_5XX="12")
    assert result.returncode == 0, result.stderr
    group = [c for c in result.calls if c[:3] == ["monitor", "action-group", "create"]][0]
    assert group[group.index("--action") + 1 :][:3] == ["email", "operator", "ops@example.com"]
    rules = {}
    for argv in result.calls:
        if argv[:2] == ["resource", "create"] and "scheduledQueryRules" in " ".join(argv):
            rules[argv[argv.index("--name") + 1]] = json.loads(argv[argv.index("--properties") + 1])
    assert set(rules) == {"dsba-5xx", "dsba-restarts", "dsba-drift"}
    five = rules["dsba-5xx"]["properties"]
    [criterion] = five["criteria"]["allOf"]
    assert criterion["threshold"] == 12 and "ResultCode) >= 500" in criterion["query"]
    assert five["scopes"][0].endswith("dsba-test-logs")
    assert five["actions"]["actionGroups"][0].endswith("dsba-alerts")
    drift = rules["dsba-drift"]["properties"]["criteria"]["allOf"][0]["query"]
    assert "dsba.model.monitoring_status" in drift and "'drift'" in drift


def test_each_alert_can_be_turned_off_and_no_email_means_no_alerts(azure):
    result = azure.run("deploy.sh", "--dry-run", **OPS, AZ_ALERT_5XX="0", AZ_ALERT_DRIFT="0")
    names = [re.search(r"--name (\S+)", p)[1] for p in result.plan() if "scheduledQuery" in p]
    assert names == ["dsba-restarts"]
    result = azure.run("deploy.sh", "--dry-run", **{**OPS, "AZ_ALERT_EMAIL": ""})
    assert result.returncode == 0, result.stderr
    assert not [p for p in result.plan() if "action-group" in p or "scheduledQuery" in p]
    assert any("log-analytics workspace create" in p for p in result.plan())


def test_a_second_deploy_with_everything_on_changes_nothing(azure):
    assert azure.run("deploy.sh", **OPS).returncode == 0
    again = azure.run("deploy.sh", **OPS)
    assert again.returncode == 0, again.stderr
    assert again.mutations() == []
    dry = azure.run("deploy.sh", "--dry-run", **OPS)
    assert dry.returncode == 0 and dry.plan() == []


def test_the_secret_key_is_generated_once_and_a_given_one_replaces_it(azure, given):
    first = azure.run("deploy.sh", **OPS, SECRET_KEY="")
    assert first.returncode == 0, first.stderr
    generated = azure.state()["secrets"]["dsba-secret-key"]
    assert re.fullmatch(r"[0-9a-f]{64}", generated)
    assert generated not in first.stdout + first.stderr
    assert all(generated not in arg for argv in first.calls for arg in argv)
    again = azure.run("deploy.sh", **OPS, SECRET_KEY="")
    assert "keyvault secret set" not in again.mutations()
    assert azure.state()["secrets"]["dsba-secret-key"] == generated
    rotated = azure.run("deploy.sh", **OPS)
    assert rotated.mutations().count("keyvault secret set") == 1
    assert azure.state()["secrets"]["dsba-secret-key"] == given["SECRET_KEY"]


def test_without_any_token_a_real_deploy_stops_after_making_the_vault(azure):
    result = azure.run("deploy.sh", **OPS, DSBA_API_TOKENS="")
    assert result.returncode != 0
    assert "azure/token.sh add" in result.stderr
    assert "keyvault create" in result.mutations()
    assert "container create" not in result.mutations()


def test_token_add_and_revoke_change_only_the_vaults_table(azure, given):
    assert azure.run("deploy.sh", **OPS).returncode == 0
    added = azure.run("token.sh", "add", "carol", "--role", "writer", **OPS)
    assert added.returncode == 0, added.stderr
    assert added.mutations() == ["keyvault secret set"]
    token = added.stdout.strip()
    assert token.startswith("dsba_") and token not in added.stderr
    assert all(token not in arg for argv in added.calls for arg in argv)
    import hashlib

    digest = hashlib.sha256(token.encode()).hexdigest()
    table = azure.state()["secrets"]["dsba-api-tokens"]
    assert table == f"{given['DSBA_API_TOKENS']},carol:writer:{digest}"
    listed = azure.run("token.sh", "list", **OPS)
    assert "carol:writer" in listed.stdout and digest not in listed.stdout

    twice = azure.run("token.sh", "add", "carol", **OPS)
    assert twice.returncode != 0 and "revoke carol first" in twice.stderr
    revoked = azure.run("token.sh", "revoke", "carol", **OPS)
    assert revoked.returncode == 0, revoked.stderr
    assert azure.state()["secrets"]["dsba-api-tokens"] == given["DSBA_API_TOKENS"]
    missing = azure.run("token.sh", "revoke", "nobody", **OPS)
    assert missing.returncode != 0 and "no token named nobody" in missing.stderr


def test_token_dry_run_plans_a_file_and_needs_the_vault(azure):
    dry = azure.run("token.sh", "add", "dave", "--dry-run", **OPS)
    assert dry.returncode == 0, dry.stderr
    assert dry.mutations() == [] and dry.stdout.count("dsba_") == 0
    [plan] = dry.plan()
    assert "--name dsba-api-tokens --file dsba-api-tokens.txt" in plan
    no_vault = azure.run("token.sh", "add", "dave")
    assert no_vault.returncode != 0 and "AZ_KEY_VAULT" in no_vault.stderr


def test_container_apps_refers_to_the_vault_and_ships_logs_by_a_diagnostic_setting(azure):
    result = azure.run("deploy-aca.sh", "--dry-run", **OPS)
    assert result.returncode == 0, result.stderr
    app = result.printed_yaml("containerapp.yaml")
    secrets = {s["name"]: s for s in app["properties"]["configuration"]["secrets"]}
    assert secrets["secret-key"]["keyVaultUrl"] == f"{VAULT_URL}/secrets/dsba-secret-key"
    assert secrets["dsba-api-tokens"]["keyVaultUrl"] == f"{VAULT_URL}/secrets/dsba-api-tokens"
    assert "value" not in secrets["secret-key"] and secrets["secret-key"]["identity"]
    [container] = [c for c in app["properties"]["template"]["containers"] if c["name"] == "app"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SECRET_KEY"] == {"name": "SECRET_KEY", "secretRef": "secret-key"}
    assert env["DSBA_KEY_VAULT_URL"]["value"] == VAULT_URL
    plan = result.plan()
    [env_create] = [p for p in plan if p.startswith("az containerapp env create")]
    assert "--logs-destination azure-monitor" in env_create and "key" not in env_create
    assert any(p.startswith("az monitor diagnostic-settings create") for p in plan)


def test_status_shows_the_last_errors_from_the_workspace(azure):
    assert azure.run("deploy.sh", **OPS).returncode == 0
    result = azure.run("status.sh", **OPS)
    assert result.returncode == 0, result.stderr
    [query] = [c for c in result.calls if c[0] == "rest"]
    assert query[query.index("--url") + 1].startswith("https://api.loganalytics.io/v1/workspaces/")
    body = json.loads(query[query.index("--body") + 1])
    assert "AppExceptions" in body["query"] and ">= 500" in body["query"]
    assert "last errors" in result.stdout


def test_update_finds_the_vault_and_monitoring_and_rolls_out_only_the_group(azure):
    assert azure.run("deploy.sh", **OPS).returncode == 0
    result = azure.run("update.sh", "--force", **OPS)
    assert result.returncode == 0, result.stderr
    assert result.mutations() == ["container create"]
    env = app_env(result.applied_yaml())
    assert env["DSBA_KEY_VAULT_URL"]["value"] == VAULT_URL
    assert "SECRET_KEY" not in env
