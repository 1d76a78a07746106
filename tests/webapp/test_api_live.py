"""The JSON API on the real gunicorn: upload penguins, train, poll, list, inspect, predict.

And every bad input is a 4xx in the one JSON error shape, never a 500.
"""

from __future__ import annotations

import io
import json
import time

import palmerpenguins
import pytest
import requests

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}
FAST = {"n_estimators": 30}
ERROR_KEYS = {"code", "status", "message"}


def session() -> requests.Session:
    """A session that never sends loopback traffic through a proxy from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


def upload(http: requests.Session, url: str, data: bytes, name: str = "data.csv"):
    """POST a file to /api/datasets as multipart form data."""
    return http.post(f"{url}/api/datasets", files={"file": (name, io.BytesIO(data))}, timeout=30)


def wait_for_job(http: requests.Session, url: str, job_id: str, timeout: float = 120) -> dict:
    """Poll a job until it has finished; return its last record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"{url}/api/jobs/{job_id}", timeout=10).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def assert_error(response: requests.Response, status: int) -> dict:
    """The response is the JSON error shape with this status and nothing of the server in it."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}, body
    assert body["code"] == status and body["message"]
    for leak in ("Traceback", "/tmp/", "/work/", "site-packages"):
        assert leak not in response.text
    return body


@pytest.fixture(scope="module")
def penguins():
    """The palmerpenguins table."""
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def trained(live_server, penguins):
    """Upload penguins, train a model through /api/train and wait for the job."""
    http = session()
    uploaded = upload(http, live_server.url, penguins.to_csv(index=False).encode(), "penguins.csv")
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()
    started = http.post(
        f"{live_server.url}/api/train",
        json={"dataset_id": dataset["id"], "target": "species", "name": "penguins", "params": FAST},
        timeout=30,
    )
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "queued"
    job = wait_for_job(http, live_server.url, started.json()["id"])
    return {"dataset": dataset, "started": started.json(), "job": job}


def test_upload_returns_the_profile(trained):
    dataset = trained["dataset"]
    columns = {c["name"]: c for c in dataset["columns"]}
    assert dataset["rows"] == 344 and dataset["filename"] == "penguins.csv"
    assert columns["species"]["kind"] == "categorical" and columns["species"]["distinct"] == 3
    assert columns["bill_length_mm"]["kind"] == "numeric"
    assert columns["bill_length_mm"]["missing"] == 2 and columns["sex"]["missing"] == 11
    assert len(dataset["preview"]) == 10


def test_training_job_succeeds_with_progress_and_a_model(trained):
    job = trained["job"]
    assert job["state"] == "succeeded", job
    assert job["model"] == "penguins:1"
    assert 1 <= job["progress"]["round"] <= job["progress"]["total"] == FAST["n_estimators"]
    assert job["metrics"]["accuracy"] >= 0.9
    assert job["started_at"] <= job["finished_at"]


def test_the_job_is_listed(live_server, trained):
    jobs = session().get(f"{live_server.url}/api/jobs", timeout=10).json()
    assert trained["job"]["id"] in [job["id"] for job in jobs]


def test_the_model_is_listed_with_its_metadata(live_server, trained):
    http = session()
    models = http.get(f"{live_server.url}/api/models", timeout=10).json()
    assert [(m["name"], m["latest_version"]) for m in models] == [("penguins", 1)]
    meta = http.get(f"{live_server.url}/api/models/penguins:1/metadata", timeout=10).json()
    assert (meta["name"], meta["version"], meta["target"]) == ("penguins", 1, "species")
    assert set(meta["classes"]) == SPECIES
    assert meta["metrics"] == trained["job"]["metrics"]
    assert "species" not in meta["features"] and "island" in meta["features"]
    assert meta["dataset"]["sha256"] == trained["dataset"]["sha256"]


def test_predict_answers_species_names(live_server, trained, penguins):
    rows = penguins.sample(60, random_state=1)
    records = json.loads(rows.drop(columns=["species"]).to_json(orient="records"))
    response = session().post(
        f"{live_server.url}/api/predict", json={"model": "penguins", "records": records}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "penguins:1" and body["warnings"] == []
    labels = [p["label"] for p in body["predictions"]]
    assert set(labels) <= SPECIES and len(labels) == 60
    assert sum(a == b for a, b in zip(labels, rows["species"], strict=True)) >= 54
    for prediction in body["predictions"]:
        assert set(prediction["probabilities"]) == SPECIES
        assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-4
        assert (
            max(prediction["probabilities"], key=prediction["probabilities"].get)
            == (prediction["label"])
        )


def test_predict_reports_extra_columns_and_unseen_categories(live_server, trained, penguins):
    record = json.loads(penguins.drop(columns=["species"]).head(1).to_json(orient="records"))[0]
    record.update(island="Atlantis", colour="blue")
    body = (
        session()
        .post(f"{live_server.url}/api/predict", json={"model": "penguins", "records": [record]})
        .json()
    )
    assert body["predictions"][0]["label"] in SPECIES
    assert any("colour" in warning for warning in body["warnings"])
    assert any("Atlantis" in warning and "island" in warning for warning in body["warnings"])


def _penguin_record(penguins) -> dict:
    return json.loads(penguins.drop(columns=["species"]).head(1).to_json(orient="records"))[0]


def test_bad_uploads_are_400(live_server):
    http = session()
    assert "empty" in assert_error(upload(http, live_server.url, b""), 400)["message"]
    body = assert_error(
        upload(http, live_server.url, "a,b\nx,1\n".encode("latin-1") + b"\xe9,2\n"), 400
    )
    assert "UTF-8" in body["message"] and body["errors"] == {"line": 3}
    assert_error(http.post(f"{live_server.url}/api/datasets", timeout=10), 422)


def test_bad_training_requests_are_4xx(live_server, trained):
    http = session()
    url, dataset_id = f"{live_server.url}/api/train", trained["dataset"]["id"]
    missing = http.post(url, json={"dataset_id": dataset_id, "target": "beak", "name": "x"})
    assert "beak" in assert_error(missing, 400)["message"]
    unknown = http.post(url, json={"dataset_id": "0" * 16, "target": "species", "name": "x"})
    assert assert_error(unknown, 404)["errors"] == {"dataset_id": "0" * 16}
    bad_name = http.post(url, json={"dataset_id": dataset_id, "target": "species", "name": "A B"})
    assert "name" in assert_error(bad_name, 422)["errors"]["json"]
    bad_param = http.post(
        url,
        json={"dataset_id": dataset_id, "target": "species", "name": "x", "params": {"eta": 1}},
    )
    assert "unknown parameter 'eta'" in assert_error(bad_param, 400)["message"]
    outside = http.post(url, json={"source": "../../etc/passwd", "target": "a", "name": "x"})
    assert "outside the data folder" in assert_error(outside, 403)["message"]


def test_a_single_class_target_is_refused_before_any_job(live_server):
    http = session()
    csv = "colour,size,kind\n" + "".join(f"c{i % 3},{i},same\n" for i in range(40))
    dataset = upload(http, live_server.url, csv.encode()).json()
    jobs_before = len(http.get(f"{live_server.url}/api/jobs").json())
    response = http.post(
        f"{live_server.url}/api/train",
        json={"dataset_id": dataset["id"], "target": "kind", "name": "single"},
    )
    assert "single class" in assert_error(response, 400)["message"]
    assert len(http.get(f"{live_server.url}/api/jobs").json()) == jobs_before


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/..%2Fx/metadata",
        "/api/models/x%2F..%2F..%2Fy/metadata",
        "/api/models/%2E%2E/metadata",
    ],
)
def test_a_model_reference_cannot_reach_the_filesystem(live_server, path):
    response = session().get(f"{live_server.url}{path}", timeout=10)
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code)


def test_bad_model_references_and_unknown_models(live_server, trained):
    http = session()
    assert (
        "invalid model reference"
        in assert_error(http.get(f"{live_server.url}/api/models/Bad!Ref/metadata"), 400)["message"]
    )
    assert_error(http.get(f"{live_server.url}/api/models/nope/metadata"), 404)
    assert_error(http.get(f"{live_server.url}/api/models/penguins:9/metadata"), 404)
    assert_error(http.get(f"{live_server.url}/api/models/penguins@prod/metadata"), 404)
    assert_error(http.get(f"{live_server.url}/api/jobs/not-a-job"), 404)


def test_bad_predict_bodies_are_4xx_naming_the_problem(live_server, trained, penguins):
    http, url = session(), f"{live_server.url}/api/predict"
    record = _penguin_record(penguins)
    not_json = http.post(url, data="{bad", headers={"Content-Type": "application/json"})
    assert_error(not_json, 400)
    assert_error(http.post(url, json={"model": "penguins"}), 422)
    assert_error(http.post(url, json={"model": "penguins", "records": []}), 400)
    assert_error(http.post(url, json={"model": "penguins", "records": [1, 2]}), 400)
    wrong = [record, {**record, "bill_length_mm": "long"}]
    body = assert_error(http.post(url, json={"model": "penguins", "records": wrong}), 400)
    assert body["errors"] == {"column": "bill_length_mm", "rows": [1]}
    assert "'bill_length_mm'" in body["message"] and "row 1" in body["message"]
    missing = {k: v for k, v in record.items() if k != "flipper_length_mm"}
    body = assert_error(http.post(url, json={"model": "penguins", "records": [missing]}), 400)
    assert body["errors"] == {"missing_columns": ["flipper_length_mm"]}
    nested = [{**record, "island": {"name": "Biscoe"}}]
    assert_error(http.post(url, json={"model": "penguins", "records": nested}), 400)
    huge = [{**record, "year": 10**60}]
    assert (
        "'year'"
        in assert_error(http.post(url, json={"model": "penguins", "records": huge}), 400)["message"]
    )
    assert_error(http.post(url, json={"model": "nope", "records": [record]}), 404)


def test_an_oversized_batch_is_413(live_server, trained, penguins):
    records = [_penguin_record(penguins)] * 10_001
    response = session().post(
        f"{live_server.url}/api/predict", json={"model": "penguins", "records": records}
    )
    assert "10,001" in assert_error(response, 413)["message"]


def test_alias_and_delete(live_server, trained, penguins):
    http = session()
    alias = http.put(f"{live_server.url}/api/models/penguins/aliases/prod", json={"version": 1})
    assert alias.status_code == 200 and alias.json() == {"name": "penguins", "aliases": {"prod": 1}}
    meta = http.get(f"{live_server.url}/api/models/penguins@prod/metadata").json()
    assert meta["version"] == 1
    assert_error(
        http.put(f"{live_server.url}/api/models/penguins/aliases/prod", json={"version": 7}), 404
    )
    assert_error(http.delete(f"{live_server.url}/api/models/penguins/versions/5"), 404)
