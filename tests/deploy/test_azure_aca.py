"""azure/deploy-aca.sh (Container Apps) against the recording fake az: replicas, shared
volume, HTTPS ingress, revisions and the traffic split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REGISTRY_MOUNT = "/app/models/registry"
CADDYFILE = Path(__file__).resolve().parents[2] / "azure" / "Caddyfile"
TRAFFIC_TOP = "sort_by(@, &weight)[-1].revisionName"
SHARED = [
    "group:dsba-test-rg",
    "acr:dsbatestacr",
    "image:dsbatestacr/dsba-platform:v1.2.3",
    "storage account:dsbateststore",
    "share:dsbateststore/dsba-registry",
    "identity:dsba-acr-pull",
    "role:AcrPull@/subscriptions/00000000-0000-0000-0000-000000000000"
    "/resourceGroups/rg/providers/acr/dsbatestacr",
]
DEPLOYED = SHARED + [
    "image:dsbatestacr/caddy:2",
    "containerapp env:dsba-aca-env",
    "containerapp env storage:dsba-registry",
    "containerapp:dsba",
    "revision:dsba--v1-2-3",
]


def check_app(app: dict) -> None:
    """Replicas, shared volume, HTTPS ingress, probes and revisions of the app document."""
    props = app["properties"]
    config, template = props["configuration"], props["template"]
    assert config["activeRevisionsMode"] == "Multiple"
    ingress = config["ingress"]
    assert ingress["external"] is True and ingress["allowInsecure"] is False
    # The ingress streams bodies: it sends to Caddy, which reads each request whole.
    assert ingress["targetPort"] == 8080
    assert template["scale"]["minReplicas"] >= 2
    assert template["scale"]["maxReplicas"] >= template["scale"]["minReplicas"]
    [rule] = template["scale"]["rules"]
    assert int(rule["http"]["metadata"]["concurrentRequests"]) > 0
    container, caddy = template["containers"]
    assert (container["name"], caddy["name"]) == ("app", "caddy")
    check_caddy(app, caddy)
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == REGISTRY_MOUNT
    [volume] = [v for v in template["volumes"] if v["name"] == mount["volumeName"]]
    assert volume == {
        "name": "registry",
        "storageType": "AzureFile",
        "storageName": "dsba-registry",
    }
    probes = {p["type"]: p["httpGet"] for p in container["probes"]}
    assert probes == {
        "Liveness": {"path": "/healthz", "port": 8000},
        "Readiness": {"path": "/readyz", "port": 8000},
    }
    env = {e["name"]: e for e in container["env"]}
    assert env["SECRET_KEY"] == {"name": "SECRET_KEY", "secretRef": "secret-key"}
    assert env["DSBA_API_TOKENS"]["secretRef"] == "dsba-api-tokens"
    assert "DSBA_REGISTRY_DIR" not in env
    # The ingress is one proxy: its X-Forwarded-For entry names the client.
    assert env["DSBA_PROXY_HOPS"]["value"] == "2"
    [registry] = config["registries"]
    assert registry["server"] == "dsbatestacr.azurecr.io" and "passwordSecretRef" not in registry


def check_caddy(app: dict, caddy: dict) -> None:
    """The Caddy sidecar runs azure/Caddyfile, from a secret volume, in front of the app."""
    props = app["properties"]
    assert caddy["image"] == "dsbatestacr.azurecr.io/caddy:2"
    assert caddy["command"] == [
        "caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"
    ]  # fmt: skip
    assert caddy["resources"] == {"cpu": 0.5, "memory": "1Gi"}
    env = {e["name"]: e["value"] for e in caddy["env"]}
    assert env == {
        "CADDY_SITE": "http://:8080",
        "CADDY_UPSTREAM": "localhost:8000",
        "CADDY_MAX_BODY": str(200 * 1024 * 1024 + 2 * 1024 * 1024),
    }
    [mount] = caddy["volumeMounts"]
    assert mount["mountPath"] == "/etc/caddy"
    [volume] = [v for v in props["template"]["volumes"] if v["name"] == mount["volumeName"]]
    assert volume["storageType"] == "Secret"
    [file] = volume["secrets"]
    assert file["path"] == "Caddyfile"
    secrets = {s["name"]: s["value"] for s in props["configuration"]["secrets"]}
    assert secrets[file["secretRef"]] == CADDYFILE.read_text().rstrip("\n")


def env_storage(body: dict) -> dict:
    """The Azure Files part of an environment storage request."""
    return body["properties"]["azureFile"]


def test_dry_run_plans_replicas_shared_volume_ingress_and_changes_nothing(azure):
    result = azure.run("deploy-aca.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == []
    planned = [" ".join(p.split()[:4]) for p in result.plan()]
    for expected in [
        "az containerapp env create",
        "az rest --method put",
        "az containerapp create --name",
        "az containerapp ingress traffic",
    ]:
        assert expected in planned, (expected, planned)
    app = result.printed_yaml("containerapp.yaml")
    check_app(app)
    secrets = app["properties"]["configuration"]["secrets"]
    # The Caddyfile is no secret (check_caddy compares it with azure/Caddyfile): it is one
    # only because Container Apps mounts files from secrets.
    assert {s["name"]: s["value"] for s in secrets if s["name"] != "caddyfile"} == {
        "secret-key": "***",
        "dsba-api-tokens": "***",
    }
    body = json.loads(
        result.stdout.split("--- env-storage.json (secrets masked) ---\n")[1].split("\n")[0]
    )
    assert env_storage(body) == {
        "accountName": "dsbateststore",
        "accountKey": "***",
        "shareName": "dsba-registry",
        "accessMode": "ReadWrite",
    }


def test_first_deploy_creates_the_app_and_pins_traffic_to_its_revision(azure):
    result = azure.run("deploy-aca.sh")
    assert result.returncode == 0, result.stderr
    assert result.mutations()[-4:] == [
        "containerapp env create",
        "rest",
        "containerapp create",
        "containerapp ingress traffic set",
    ]
    body = next(f for f in result.files if f.suffix == ".json")
    assert env_storage(json.loads(body.read_text()))["accountKey"] == azure.secrets[2]
    app = result.applied_yaml()
    check_app(app)
    assert app["properties"]["configuration"]["ingress"]["traffic"] == [
        {"latestRevision": True, "weight": 100}
    ]
    secrets = {s["name"]: s["value"] for s in app["properties"]["configuration"]["secrets"]}
    del secrets["caddyfile"]
    assert secrets == {"secret-key": azure.secrets[0], "dsba-api-tokens": azure.secrets[1]}
    assert weights(result) == ["dsba--v1-2-3=100"]


def test_a_metrics_token_becomes_an_app_secret(azure):
    result = azure.run("deploy-aca.sh", DSBA_METRICS_TOKEN="scrape-me")
    assert result.returncode == 0, result.stderr
    props = result.applied_yaml()["properties"]
    env = {e["name"]: e for e in props["template"]["containers"][0]["env"]}
    assert env["DSBA_METRICS_TOKEN"] == {
        "name": "DSBA_METRICS_TOKEN",
        "secretRef": "dsba-metrics-token",
    }
    secrets = {s["name"]: s["value"] for s in props["configuration"]["secrets"]}
    assert secrets["dsba-metrics-token"] == "scrape-me"


def test_second_deploy_of_the_same_tag_changes_nothing(azure):
    assert azure.run("deploy-aca.sh").returncode == 0
    again = azure.run("deploy-aca.sh")
    assert again.returncode == 0, again.stderr
    assert again.mutations() == [] and again.files == []


def weights(result) -> list[str]:
    """The --revision-weight arguments of the traffic split the run set."""
    [split] = [c for c in result.calls if c[:4] == ["containerapp", "ingress", "traffic", "set"]]
    out = []
    for arg in split[split.index("--revision-weight") + 1 :]:
        if arg.startswith("--"):
            break
        out.append(arg)
    return out


def revision_arg(argv: list[str]) -> str:
    """The --revision a call names."""
    return argv[argv.index("--revision") + 1]


@pytest.mark.parametrize(("args", "split"), [((), (90, 10)), (("--canary", "0"), (100, 0))])
def test_new_image_becomes_a_revision_with_a_share_of_the_traffic(azure, args, split):
    azure.set_state(resources=DEPLOYED, answers={TRAFFIC_TOP: "dsba--v1-2-3"})
    result = azure.run("deploy-aca.sh", *args, AZ_IMAGE_TAG="v1.3.0")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == [
        "acr build",
        "containerapp update",
        "containerapp ingress traffic set",
    ]
    app = result.applied_yaml()
    check_app(app)
    assert app["properties"]["template"]["revisionSuffix"] == "v1-3-0"
    # The new revision starts without traffic; the split follows in one step.
    assert app["properties"]["configuration"]["ingress"]["traffic"] == [
        {"revisionName": "dsba--v1-2-3", "weight": 100}
    ]
    assert weights(result) == [f"dsba--v1-2-3={split[0]}", f"dsba--v1-3-0={split[1]}"]


def test_promote_gives_the_latest_revision_all_traffic_and_retires_the_rest(azure):
    azure.set_state(
        resources=DEPLOYED,
        answers={
            "properties.latestRevisionName": "dsba--v1-3-0",
            "[?properties.active && name != 'dsba--v1-3-0'].name": "dsba--v1-2-3",
        },
    )
    result = azure.run("deploy-aca.sh", "--promote")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == [
        "containerapp ingress traffic set",
        "containerapp revision deactivate",
    ]
    assert weights(result) == ["dsba--v1-3-0=100"]
    assert revision_arg(result.calls[-1]) == "dsba--v1-2-3"


def test_rollback_sends_all_traffic_back_and_retires_the_latest(azure):
    azure.set_state(
        resources=DEPLOYED,
        answers={
            "properties.latestRevisionName": "dsba--v1-3-0",
            "sort_by([?revisionName != 'dsba--v1-3-0'], &weight)[-1].revisionName": "dsba--v1-2-3",
        },
    )
    result = azure.run("deploy-aca.sh", "--rollback")
    assert result.returncode == 0, result.stderr
    assert weights(result) == ["dsba--v1-2-3=100", "dsba--v1-3-0=0"]
    assert result.mutations()[-1] == "containerapp revision deactivate"
    assert revision_arg(result.calls[-1]) == "dsba--v1-3-0"


def test_rollback_without_an_earlier_revision_refuses(azure):
    azure.set_state(resources=DEPLOYED, answers={"properties.latestRevisionName": "dsba--v1-2-3"})
    result = azure.run("deploy-aca.sh", "--rollback")
    assert result.returncode != 0 and "no earlier revision" in result.stderr
    assert result.mutations() == []


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--canary", "150"), {}, "--canary needs a percentage"),
        (("--promote", "--rollback"), {}, "exclude each other"),
        ((), {"AZ_ACA_MIN_REPLICAS": "1"}, "at least 2"),
    ],
)
def test_bad_settings_are_refused_before_any_az_call(azure, args, env, message):
    result = azure.run("deploy-aca.sh", *args, **env)
    assert result.returncode != 0 and message in result.stderr
    assert result.calls == []


def test_teardown_keep_storage_removes_the_container_app_too(azure):
    azure.set_state(resources=DEPLOYED)
    result = azure.run("teardown.sh", "--keep-storage", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.mutations() == [
        "containerapp delete",
        "containerapp env delete",
        "acr delete",
        "identity delete",
    ]
    assert "share:dsbateststore/dsba-registry" in azure.state()["resources"]


def test_dry_run_without_az_login_still_plans_the_container_app(azure):
    azure.set_state(logged_in=False)
    result = azure.run("deploy-aca.sh", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.commands() == ["account show"]
    check_app(result.printed_yaml("containerapp.yaml"))
    assert result.plan()[-1].startswith("az containerapp ingress traffic set")
