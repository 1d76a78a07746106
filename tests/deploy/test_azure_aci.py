"""azure/*.sh (Container Instances) against the recording fake az: plans, idempotence, secrets."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_MOUNT = "/app/models/registry"
APP_PORT = 8000
EVERY_RESOURCE = [
    "group:dsba-test-rg",
    "acr:dsbatestacr",
    "image:dsbatestacr/dsba-platform:v1.2.3",
    "image:dsbatestacr/caddy:2",
    "storage account:dsbateststore",
    "share:dsbateststore/dsba-registry",
    "share:dsbateststore/caddy-data",
    "identity:dsba-acr-pull",
    "role:AcrPull@/subscriptions/00000000-0000-0000-0000-000000000000"
    "/resourceGroups/rg/providers/acr/dsbatestacr",
    "container:dsba-test",
]


def container(group: dict, name: str) -> dict:
    """The properties of one container of a container group document."""
    [found] = [c["properties"] for c in group["properties"]["containers"] if c["name"] == name]
    return found


def env_of(props: dict) -> dict[str, dict]:
    """The environment variables of a container, by name."""
    return {item["name"]: item for item in props["environmentVariables"]}


def probe(path: str) -> dict:
    """An HTTP probe of the app's port."""
    return {"path": path, "port": APP_PORT, "scheme": "http"}


def check_caddy(group: dict) -> None:
    """The HTTPS sidecar runs azure/Caddyfile (buffering, read timeouts) for the DNS name."""
    caddy = container(group, "caddy")
    assert caddy["command"] == [
        "caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"
    ]  # fmt: skip
    assert {name: item["value"] for name, item in env_of(caddy).items()} == {
        "CADDY_SITE": "dsba-test-label.westeurope.azurecontainer.io",
        "CADDY_UPSTREAM": f"localhost:{APP_PORT}",
        "CADDY_MAX_BODY": str(200 * 1024 * 1024 + 2 * 1024 * 1024),
    }
    # Room for a 200 MB upload, which peaks at about three times that while buffered.
    assert caddy["resources"]["requests"]["memoryInGB"] == 1
    mounts = {m["name"]: m["mountPath"] for m in caddy["volumeMounts"]}
    assert mounts == {"caddy-data": "/data", "caddy-config": "/etc/caddy"}
    [config] = [v for v in group["properties"]["volumes"] if v["name"] == "caddy-config"]
    caddyfile = base64.b64decode(config["secret"]["Caddyfile"]).decode()
    assert caddyfile == (ROOT / "azure" / "Caddyfile").read_text()


def check_group(group: dict, *, https: bool = True) -> None:
    """The container group serves the app with the registry share at the app's path."""
    app = container(group, "app")
    [mount] = app["volumeMounts"]
    assert mount["mountPath"] == REGISTRY_MOUNT
    [volume] = [v for v in group["properties"]["volumes"] if v["name"] == mount["name"]]
    assert volume["azureFile"]["shareName"] == "dsba-registry"
    assert volume["azureFile"]["storageAccountName"] == "dsbateststore"
    assert app["livenessProbe"]["httpGet"] == probe("/healthz")
    assert app["readinessProbe"]["httpGet"] == probe("/readyz")
    assert app["resources"]["requests"] == {"cpu": 1.5, "memoryInGB": 3}
    assert app["image"] == "dsbatestacr.azurecr.io/dsba-platform:v1.2.3"
    env = env_of(app)
    assert env["DSBA_ENV"]["value"] == "production"
    assert env["DSBA_MAX_JOBS"]["value"] == "3"
    assert "value" not in env["SECRET_KEY"] and "value" not in env["DSBA_API_TOKENS"]
    # The image fixes these two; the deployment must not move the registry elsewhere.
    assert "DSBA_REGISTRY_DIR" not in env and "DSBA_BIND" not in env
    assert group["properties"]["ipAddress"]["dnsNameLabel"] == "dsba-test-label"
    [credential] = group["properties"]["imageRegistryCredentials"]
    assert credential["server"] == "dsbatestacr.azurecr.io"
    assert "password" not in credential and credential["identity"]
    assert list(group["identity"]["userAssignedIdentities"]) == [credential["identity"]]
    ports = [p["port"] for p in group["properties"]["ipAddress"]["ports"]]
    names = [c["name"] for c in group["properties"]["containers"]]
    # Caddy's X-Forwarded-For entry names the client; without Caddy no header is trusted.
    assert env["DSBA_PROXY_HOPS"]["value"] == ("1" if https else "0")
    if https:
        assert ports == [80, 443] and names == ["app", "caddy"]
        check_caddy(group)
    else:
        assert ports == [APP_PORT] and names == ["app"]


def test_dry_run_on_an_empty_subscription_plans_everything_and_changes_nothing(azure):
    result = azure.run("deploy.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == []
    planned = [" ".join(cmd.split()[:4]) for cmd in result.plan()]
    for expected in [
        "az group create --name",
        "az acr create --name",
        "az acr build --registry",
        "az acr import --name",
        "az storage account create",
        "az storage share-rm create",
        "az identity create --name",
        "az role assignment create",
        "az container create --resource-group",
    ]:
        assert any(p.startswith(expected) for p in planned), (expected, planned)
    group = result.printed_yaml()
    check_group(group)
    assert env_of(container(group, "app"))["SECRET_KEY"]["secureValue"] == "***"
    assert group["properties"]["volumes"][0]["azureFile"]["storageAccountKey"] == "***"


def test_dry_run_without_az_login_still_prints_the_whole_plan(azure):
    azure.set_state(logged_in=False)
    result = azure.run("deploy.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.commands() == ["account show"]
    assert "not logged in" in result.stderr
    assert len(result.plan()) == 10
    check_group(result.printed_yaml())


def test_deploy_creates_what_is_missing_and_hands_secrets_over_in_a_file(azure):
    result = azure.run("deploy.sh")
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
        "container create",
    ]
    group = result.applied_yaml()
    check_group(group)
    env = env_of(container(group, "app"))
    assert env["SECRET_KEY"]["secureValue"] == azure.secrets[0]
    assert env["DSBA_API_TOKENS"]["secureValue"] == azure.secrets[1]
    shares = [v for v in group["properties"]["volumes"] if "secret" not in v]
    assert len(shares) == 2
    for volume in shares:
        assert volume["azureFile"]["storageAccountKey"] == azure.secrets[2]
    assert "https://dsba-test-label.westeurope.azurecontainer.io" in result.stderr


def test_a_metrics_token_is_handed_over_as_a_secret(azure):
    result = azure.run("deploy.sh", DSBA_METRICS_TOKEN="scrape-me")
    assert result.returncode == 0, result.stderr
    env = env_of(container(result.applied_yaml(), "app"))
    assert env["DSBA_METRICS_TOKEN"] == {"name": "DSBA_METRICS_TOKEN", "secureValue": "scrape-me"}
    assert "scrape-me" not in result.stdout + result.stderr


def test_second_deploy_changes_nothing(azure):
    assert azure.run("deploy.sh").returncode == 0
    again = azure.run("deploy.sh")
    assert again.returncode == 0, again.stderr
    assert again.mutations() == []
    assert again.files == []


def test_deploy_against_everything_existing_is_a_no_op_also_in_dry_run(azure):
    azure.set_state(resources=EVERY_RESOURCE)
    for args in [("--dry-run",), ()]:
        result = azure.run("deploy.sh", *args)
        assert result.returncode == 0, result.stderr
        assert result.mutations() == [] and result.plan() == []


def test_force_build_builds_an_existing_tag_again(azure):
    azure.set_state(resources=EVERY_RESOURCE)
    result = azure.run("deploy.sh", "--force-build")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == ["acr build"]
    build = result.calls[[c[:2] for c in result.calls].index(["acr", "build"])]
    assert build[-1] == str(ROOT)
    assert build[build.index("--image") + 1] == "dsba-platform:v1.2.3"


def test_https_sidecar_can_be_turned_off(azure):
    result = azure.run("deploy.sh", AZ_HTTPS_SIDECAR="0")
    assert result.returncode == 0, result.stderr
    assert "acr import" not in result.mutations()
    assert result.mutations().count("storage share-rm create") == 1
    check_group(result.applied_yaml(), https=False)
    assert "http://dsba-test-label.westeurope.azurecontainer.io:8000" in result.stderr


def test_production_deploy_refuses_to_start_without_secrets(azure):
    result = azure.run("deploy.sh", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert result.calls == []


def test_environment_wins_over_the_config_file_which_is_never_executed(azure, tmp_path):
    marker = tmp_path / "executed"
    azure.config.write_text(azure.config.read_text() + f"DSBA_URL_ALLOW_HOSTS=$(touch {marker})\n")
    result = azure.run("deploy.sh", "--dry-run", DSBA_MAX_JOBS="7", DSBA_REGISTRY_DIR="/elsewhere")
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    env = env_of(container(result.printed_yaml(), "app"))
    assert env["DSBA_MAX_JOBS"]["value"] == "7"
    assert env["DSBA_URL_ALLOW_HOSTS"]["value"] == f"$(touch {marker})"
    assert "DSBA_REGISTRY_DIR" not in env


def test_update_rolls_out_a_new_image_on_the_same_share(azure):
    azure.set_state(
        resources=EVERY_RESOURCE,
        answers={"containers[?name=='app'].image | [0]": "dsbatestacr.azurecr.io/dsba-platform:v1"},
    )
    result = azure.run("update.sh", AZ_IMAGE_TAG="v1.3.0")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == ["acr build", "container create"]
    group = result.applied_yaml()
    assert container(group, "app")["image"] == "dsbatestacr.azurecr.io/dsba-platform:v1.3.0"
    [mount] = container(group, "app")["volumeMounts"]
    assert mount["mountPath"] == REGISTRY_MOUNT
    assert group["properties"]["volumes"][0]["azureFile"]["shareName"] == "dsba-registry"


def test_update_to_the_running_image_does_nothing_unless_forced(azure):
    running = "dsbatestacr.azurecr.io/dsba-platform:v1.2.3"
    azure.set_state(
        resources=EVERY_RESOURCE, answers={"containers[?name=='app'].image | [0]": running}
    )
    assert azure.run("update.sh").mutations() == []
    assert azure.run("update.sh", "--force").mutations() == ["container create"]
    assert azure.run("update.sh", "--recreate").mutations() == [
        "container delete",
        "container create",
    ]


def test_update_without_a_deployment_or_its_share_refuses(azure):
    result = azure.run("update.sh")
    assert result.returncode != 0 and "deploy.sh first" in result.stderr
    azure.set_state(resources=[r for r in EVERY_RESOURCE if "dsba-registry" not in r])
    result = azure.run("update.sh")
    assert result.returncode != 0 and "dsba-registry not found" in result.stderr
    assert result.mutations() == []


def test_teardown_keep_storage_deletes_compute_but_not_the_models(azure):
    azure.set_state(resources=EVERY_RESOURCE)
    result = azure.run("teardown.sh", "--keep-storage", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == ["container delete", "acr delete", "identity delete"]
    left = azure.state()["resources"]
    assert "storage account:dsbateststore" in left
    assert "share:dsbateststore/dsba-registry" in left
    assert "group:dsba-test-rg" in left


def test_teardown_keep_storage_dry_run_plans_the_same_and_deletes_nothing(azure):
    azure.set_state(resources=EVERY_RESOURCE)
    result = azure.run("teardown.sh", "--keep-storage", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == []
    assert [" ".join(p.split()[:3]) for p in result.plan()] == [
        "az container delete",
        "az acr delete",
        "az identity delete",
    ]


def test_teardown_without_yes_and_without_stdin_refuses(azure):
    azure.set_state(resources=EVERY_RESOURCE)
    for args in [(), ("--keep-storage",)]:
        result = azure.run("teardown.sh", *args)
        assert result.returncode != 0
        assert "refusing" in result.stderr
        assert result.mutations() == []


@pytest.mark.parametrize(("answer", "deleted"), [("yes\n", True), ("no\n", False)])
def test_teardown_asks_and_deletes_the_group_only_on_yes(azure, answer, deleted):
    azure.set_state(resources=EVERY_RESOURCE)
    result = azure.run("teardown.sh", stdin=answer)
    assert "EVERYTHING" in result.stderr
    assert (result.returncode == 0) is deleted
    assert result.mutations() == (["group delete"] if deleted else [])


def test_status_shows_state_url_and_logs(azure):
    azure.set_state(resources=EVERY_RESOURCE)
    result = azure.run("status.sh", "--tail", "5")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == []
    assert result.commands().count("container logs") == 2
    assert "URL: https://dsba-test-label.westeurope.azurecontainer.io" in result.stdout
    assert "log line 99" in result.stdout and "log line 94" not in result.stdout
    dry = azure.run("status.sh", "--dry-run")
    assert dry.returncode == 0 and dry.commands() == ["account show"]
    assert len(dry.plan()) == 3


@pytest.mark.parametrize(
    "script", ["deploy.sh", "update.sh", "teardown.sh", "status.sh", "deploy-aca.sh"]
)
def test_every_script_has_help_and_rejects_unknown_options(azure, script):
    assert azure.run(script, "--help").stdout.startswith("Usage: azure/")
    result = azure.run(script, "--no-such-option")
    assert result.returncode != 0 and "unknown option" in result.stderr
    assert result.calls == []


def test_a_dask_scheduler_gets_an_image_with_the_dask_extra(azure):
    result = azure.run("deploy.sh", "--dry-run", DSBA_DASK_SCHEDULER="tcp://10.1.0.4:8786")
    assert result.returncode == 0, result.stderr
    [build] = [p for p in result.plan() if p.startswith("az acr build")]
    assert "--build-arg DSBA_EXTRAS=dask" in build
    assert "--image dsba-platform:v1.2.3-dask" in build
    app = container(result.printed_yaml(), "app")
    assert app["image"] == "dsbatestacr.azurecr.io/dsba-platform:v1.2.3-dask"
    assert env_of(app)["DSBA_DASK_SCHEDULER"]["value"] == "tcp://10.1.0.4:8786"
    plain = azure.run("deploy.sh", "--dry-run")
    assert "DSBA_EXTRAS" not in plain.stdout and "-dask" not in plain.stdout
