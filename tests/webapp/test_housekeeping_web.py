"""Compare, versions, alias removal, downloads and deletions over the API and the pages."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import palmerpenguins
import pytest
import xgboost
from click.testing import CliRunner
from datagen import two_version_store

from dsba.cli import main
from dsba.client import Client
from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_bytes, read_source
from dsba.jobs.job_store import JobStore
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService
from webapp import create_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A store of its own per test: these tests delete things."""
    return Settings(registry_dir=tmp_path / "registry", train_threads=1)


@pytest.fixture(scope="module")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """palmerpenguins as a CSV file."""
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(path, index=False)
    return path


@pytest.fixture
def client(settings: Settings, penguins_csv: Path):
    """A client of an app over penguins v1 (depth 2) and v2 (depth 4)."""
    service = LocalService(settings)
    for depth in (2, 4):
        service.train(
            str(penguins_csv),
            target="species",
            name="penguins",
            params={"n_estimators": 10, "max_depth": depth},
        )
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    return app.test_client()


def test_api_versions_and_compare(client):
    versions = client.get("/api/models/penguins/versions")
    assert versions.status_code == 200
    assert [row["version"] for row in versions.json] == [2, 1]

    compared = client.get("/api/models/penguins/compare?versions=1,2")
    assert compared.status_code == 200, compared.text
    body = compared.json
    depth = next(row for row in body["params"] if row["name"] == "max_depth")
    assert depth == {"name": "max_depth", "values": [2, 4], "differs": True}
    assert {row["metric"] for row in body["metrics"]} >= {"accuracy", "roc_auc", "log_loss"}
    assert body["data"][1]["same_as_previous"] is True

    for url, status in [
        ("/api/models/penguins/compare?versions=1", 400),
        ("/api/models/penguins/compare", 422),
        ("/api/models/penguins/compare?versions=1,7", 404),
        ("/api/models/Bad..Name/compare?versions=1,2", 400),
        ("/api/models/..%2F..%2Fetc/versions", 404),
        ("/api/models/nope/versions", 404),
    ]:
        response = client.get(url)
        assert response.status_code == status, (url, response.text)
        assert set(response.json) >= {"code", "status", "message"}
        assert "/registry" not in response.text


def test_api_removes_an_alias(client):
    client.put("/api/models/penguins/aliases/staging", json={"version": 1})
    removed = client.delete("/api/models/penguins/aliases/staging")
    assert removed.status_code == 200 and removed.json["aliases"] == {}
    again = client.delete("/api/models/penguins/aliases/staging")
    assert again.status_code == 404 and "no alias 'staging'" in again.json["message"]
    assert client.delete("/api/models/penguins/aliases/Bad%20Alias").status_code == 400


def test_api_downloads_a_version_as_a_zip(client, settings):
    # Unbuffered, as a browser reads it: the answer streams (the test closes it).
    response = client.get("/api/models/penguins:1/artifacts", buffered=False)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed  # sent in chunks as it is zipped, never whole in memory
    assert 'filename="penguins-v1.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    folder = settings.registry_dir / "models" / "penguins" / "1"
    assert archive.read("penguins-v1/model.ubj") == (folder / "model.ubj").read_bytes()
    assert {"penguins-v1/schema.json", "penguins-v1/metadata.json"} <= set(archive.namelist())
    response.close()
    assert client.get("/api/models/penguins:9/artifacts").status_code == 404
    assert client.get("/api/models/..:1/artifacts").status_code == 400


def test_api_deletes_a_model_with_its_aliases(client):
    client.put("/api/models/penguins/aliases/production", json={"version": 2})
    deleted = client.delete("/api/models/penguins")
    assert deleted.status_code == 200
    assert deleted.json == {"name": "penguins", "versions": [1, 2], "aliases": {"production": 2}}
    assert client.get("/api/models").json == []
    assert client.delete("/api/models/penguins").status_code == 404
    assert client.delete("/api/models/..").status_code == 400


def test_api_deletes_a_dataset_unless_a_job_uses_it(client, settings, penguins_csv):
    stored = DatasetStore(settings.registry_dir).save(read_source(str(penguins_csv), settings))
    job = JobStore(settings).create({"dataset_id": stored["id"], "name": "p", "params": {}})
    refused = client.delete(f"/api/datasets/{stored['id']}")
    assert refused.status_code == 409 and job["id"] in refused.json["message"]
    page = client.get(f"/datasets/{stored['id']}/delete").text
    assert 'data-testid="dataset-in-use"' in page and re.search(
        r"confirm-delete-dataset\"\s*disabled", page
    )

    JobStore(settings).write({**job, "state": "failed"})
    deleted = client.delete(f"/api/datasets/{stored['id']}")
    assert deleted.status_code == 200 and deleted.json["deleted"] == stored["id"]
    assert client.get(f"/api/datasets/{stored['id']}").status_code == 404
    assert client.delete("/api/datasets/..%2Fmodels").status_code == 404


def test_the_compare_page_and_the_metric_changes_on_the_model_page(client):
    html = client.get("/models/penguins").text
    assert 'data-testid="change-accuracy"' in html and "vs v1" in html
    assert 'href="/models/penguins/compare?versions=1&amp;versions=2"' in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)

    page = client.get("/models/penguins/compare?versions=1&versions=2")
    assert page.status_code == 200
    assert re.search(r'table-warning differs" data-param="max_depth"', page.text)
    one = client.get("/models/penguins/compare?versions=2", follow_redirects=True)
    assert "Tick two or more versions" in one.text
    assert client.get("/models/nope/compare?versions=1,2").status_code == 404


def test_pages_remove_an_alias_and_delete_a_model_after_naming_its_aliases(client):
    client.put("/api/models/penguins/aliases/production", json={"version": 1})
    removed = client.post("/models/penguins/aliases/production/remove", follow_redirects=True)
    assert "Removed penguins@production" in removed.text
    client.put("/api/models/penguins/aliases/canary", json={"version": 2})
    confirm = client.get("/models/penguins/delete").text
    assert "penguins@canary" in confirm and "v1, v2" in confirm
    deleted = client.post("/models/penguins/delete", follow_redirects=True)
    assert "Deleted the model penguins (2 versions)." in deleted.text
    assert client.get("/models/penguins").status_code == 404


def test_the_cli_and_client_do_it_remotely(start_gunicorn, tmp_path):
    registry = tmp_path / "remote"
    two_version_store(registry)
    stored = DatasetStore(registry).save(read_bytes(b"a,b\n1,x\n2,y\n", source="t.csv"), "t.csv")
    server = start_gunicorn(DSBA_REGISTRY_DIR=str(registry))

    def cli(*args: str):
        result = CliRunner().invoke(main, ["--remote", server.url, *args], env={})
        assert "Traceback" not in result.output
        return result

    listed = cli("--json", "models", "versions", "m")
    assert [row["version"] for row in json.loads(listed.stdout)] == [2, 1]
    compared = cli("--json", "models", "compare", "m", "1", "2")
    seed = next(row for row in json.loads(compared.stdout)["params"] if row["name"] == "seed")
    assert seed == {"name": "seed", "values": [1, 2], "differs": True}
    assert cli("models", "alias", "m", "staging", "1").exit_code == 0
    assert cli("models", "unalias", "m", "staging").stdout == "removed m@staging\n"
    assert cli("models", "unalias", "m", "staging").exit_code == 4
    assert cli("datasets", "delete", stored["id"]).exit_code == 0
    assert cli("datasets", "delete", stored["id"]).exit_code == 4
    deleted = cli("models", "delete-model", "m", "--yes")
    assert deleted.stdout == "deleted m: versions 1, 2\n"
    assert cli("models", "delete-model", "m", "--yes").exit_code == 4
    with Client(server.url) as api:
        assert api.list_models() == []


def test_regression_versions_compare_over_their_own_metrics(client, settings):
    # Trained as the regression task stores its versions: rmse, mae and r2, no classes.
    frame = palmerpenguins.load_penguins().dropna(subset=["body_mass_g", "flipper_length_mm"])
    matrix = xgboost.DMatrix(frame[["flipper_length_mm"]], label=frame["body_mass_g"])
    booster = xgboost.train({"objective": "reg:squarederror", "nthread": 1}, matrix, 5)
    registry = ModelRegistry(settings.registry_dir)
    schema = {"features": [{"name": "flipper_length_mm", "kind": "numeric"}], "target": "mass"}
    for depth, rmse, r2 in [(3, 400.0, 0.75), (6, 380.0, 0.77)]:
        metadata = {
            "task": "regression",
            "target": "body_mass_g",
            "params": {"max_depth": depth},
            "metrics": {"rmse": rmse, "mae": 300.0, "r2": r2},
            "dataset": {"sha256": "ab" * 32, "rows": {"total": len(frame)}},
        }
        registry.save_version("mass", booster, schema, metadata)

    compared = client.get("/api/models/mass/compare?versions=1,2").json
    rows = {row["metric"]: row for row in compared["metrics"]}
    assert list(rows) == ["rmse", "mae", "r2"]
    assert rows["rmse"]["better"] == "lower" and rows["rmse"]["changes"][1]["better"] is True
    page = client.get("/models/mass/compare?versions=1&versions=2").text
    assert re.search(r'data-metric="rmse">\s*<th[^>]*>RMSE <span[^>]*>lower is better', page)
    assert "R²" in page and "same data as v1" in page
