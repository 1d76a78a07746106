"""A linear model (booster gblinear) in the pages and the API: train form, model page, predict."""

from __future__ import annotations

import io
import json
import re
import time

import palmerpenguins
import pytest

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_bytes
from dsba.jobs.job_store import JobStore
from dsba.service import LocalService
from webapp import create_app

PENGUIN = {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0}
PENGUIN |= {"flipper_length_mm": 218, "body_mass_g": 5400, "sex": "male", "year": 2008}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store with a penguins dataset and 'linear', a gblinear species classifier."""
    settings = Settings(registry_dir=tmp_path_factory.mktemp("linear-pages"), train_threads=1)
    raw = palmerpenguins.load_penguins().to_csv(index=False).encode()
    info = DatasetStore(settings.registry_dir).save(read_bytes(raw, source="upload:p.csv"), "p.csv")
    dataset = DatasetStore(settings.registry_dir).load(info["id"])
    LocalService(settings).train(
        dataset, target="species", name="linear", params={"booster": "gblinear"}
    )
    return settings


@pytest.fixture(scope="module")
def app(settings: Settings):
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    return app.test_client()


def _html(response) -> str:
    return response.get_data(as_text=True)


def _selected(html: str, name: str) -> str | None:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"', select[1]) or re.search(
        r'<option[^>]*value="([^"]*)"[^>]*selected', select[1]
    )
    return chosen[1] if chosen else None


def test_the_model_page_names_the_linear_model_and_its_importance(client):
    html = _html(client.get("/models/linear"))
    assert 'data-testid="linear-model">linear model (gblinear)<' in html
    assert "share of the mean absolute contribution of each feature (linear model)" in html
    charts = json.loads(re.search(r'id="chart-data">(.*?)</script>', html, re.S)[1])
    assert {item["feature"] for item in charts["importance"]} >= {"island", "bill_length_mm"}
    # A tree model keeps the gain caption and no linear note.
    assert "linear-model" not in _html(client.get("/"))


def test_the_predict_form_and_the_api_score_a_linear_model(client):
    page = _html(client.get("/models/linear/predict"))
    names = re.findall(r'<label[^>]*for="(f\d+)"[^>]*>\s*(?:<code>)?([^<\s]+)', page)
    assert names, "no feature fields"
    form = {field: str(PENGUIN[name]) for field, name in names if name in PENGUIN}
    response = client.post("/models/linear/predict", data=form)
    assert response.status_code == 200 and "Gentoo" in _html(response)
    api = client.post("/api/predict", json={"model": "linear", "records": [PENGUIN]})
    assert api.status_code == 200, api.get_json()
    assert api.get_json()["predictions"][0]["label"] == "Gentoo"
    split = {"dataframe_split": {"columns": list(PENGUIN), "data": [list(PENGUIN.values())]}}
    invoked = client.post("/api/models/linear/invocations", json=split)
    assert invoked.status_code == 200, invoked.get_json()
    assert "Gentoo" in json.dumps(invoked.get_json())


def test_the_train_form_offers_the_booster_and_retrain_keeps_it(client, settings):
    dataset_id = DatasetStore(settings.registry_dir).list()[0]["id"]
    html = _html(client.get(f"/datasets/{dataset_id}"))
    assert _selected(html, "booster") in (None, "gbtree")
    assert re.search(r'<option[^>]*value="gblinear"', html)
    again = _html(client.get(f"/datasets/{dataset_id}?from=linear:1"))
    assert _selected(again, "booster") == "gblinear"


def test_a_form_training_with_gblinear_makes_a_linear_version(client, settings):
    frame = palmerpenguins.load_penguins()
    upload = {"file": (io.BytesIO(frame.to_csv(index=False).encode()), "again.csv")}
    location = client.post("/train", data=upload).headers["Location"]
    response = client.post(
        location,
        data={"target": "sex", "name": "sexes", "test_size": "0.2", "seed": "1",
              "booster": "gblinear"},
    )  # fmt: skip
    assert response.status_code == 302, _html(response)
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = JobStore(settings).get(job_id)
    assert job["request"]["params"]["booster"] == "gblinear"
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = JobStore(settings).get(job_id)
    assert job["state"] == "succeeded", job
    meta = LocalService(settings).metadata("sexes")
    assert meta["params"]["booster"] == "gblinear" and meta["metrics"]["accuracy"] > 0.85


def test_the_api_refuses_an_unknown_booster(client, settings):
    dataset_id = DatasetStore(settings.registry_dir).list()[0]["id"]
    body = {
        "dataset_id": dataset_id,
        "target": "species",
        "name": "x",
        "params": {"booster": "dart"},
    }
    response = client.post("/api/train", json=body)
    assert response.status_code == 400
    assert "'booster' must be one of gbtree, gblinear" in response.get_json()["message"]
