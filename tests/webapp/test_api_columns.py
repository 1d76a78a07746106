"""exclude and kinds in POST /api/train, DELETE /api/jobs/<id>, and the client's calls for them,
on the real gunicorn."""

from __future__ import annotations

import io
import time

import palmerpenguins
import pytest
import requests

from dsba.client import Client
from dsba.errors import Conflict, InvalidInput, NotFound

FAST = {"n_estimators": 15}


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    return http


@pytest.fixture(scope="module")
def dataset_id(live_server) -> str:
    raw = palmerpenguins.load_penguins().to_csv(index=False).encode()
    with session() as http:
        response = http.post(
            f"{live_server.url}/api/datasets",
            files={"file": ("penguins.csv", io.BytesIO(raw))},
            timeout=60,
        )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _train(url: str, **body) -> requests.Response:
    with session() as http:
        return http.post(f"{url}/api/train", json={"name": "cols", **body}, timeout=60)


def _jobs(url: str) -> list[dict]:
    with session() as http:
        return http.get(f"{url}/api/jobs", timeout=30).json()


def _wait(url: str, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    with session() as http:
        while time.monotonic() < deadline:
            job = http.get(f"{url}/api/jobs/{job_id}", timeout=30).json()
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_exclude_and_kinds_reach_the_model(live_server, dataset_id):
    response = _train(
        live_server.url,
        dataset_id=dataset_id,
        target="species",
        params=FAST,
        exclude=["island"],
        kinds={"year": "categorical", "sex": "ignore"},
    )
    assert response.status_code == 202, response.text
    job = _wait(live_server.url, response.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["request"]["exclude"] == ["island"]
    with Client(live_server.url) as client:
        meta = client.metadata(job["model"])
    assert "island" not in meta["features"] and "sex" not in meta["features"]
    assert meta["columns"] == {
        "exclude": ["island"],
        "kinds": {"year": "categorical", "sex": "ignore"},
    }
    row = {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
           "body_mass_g": 3750, "year": 2099}  # fmt: skip
    with session() as http:
        scored = http.post(
            f"{live_server.url}/api/predict", json={"model": job["model"], "records": [row]}
        ).json()
    # year is a category now: a year never seen is reported as such, not extrapolated.
    assert any("unseen categories ['2099']" in w for w in scored["warnings"]), scored


@pytest.mark.parametrize(
    ("body", "message", "errors"),
    [
        ({"exclude": ["beak"]}, "exclude: column 'beak' not found", {"exclude": "beak"}),
        ({"exclude": ["species"]}, "exclude: 'species' is the target column", None),
        ({"exclude": "island"}, "exclude must be a list of column names", None),
        ({"kinds": {"year": "text"}}, "kinds: 'text' for column 'year' is not a kind", None),
        ({"kinds": {"beak": "numeric"}}, "kinds: column 'beak' not found", {"kinds": "beak"}),
        ({"kinds": ["year"]}, "kinds must be an object of {column: kind}", None),
        (
            {"kinds": {"island": "numeric"}},
            "kinds: column 'island' must be numeric; row 0 has 'Torgersen'",
            {"kinds": "island", "column": "island"},
        ),
        (
            {
                "exclude": [
                    "island",
                    "bill_length_mm",
                    "bill_depth_mm",
                    "flipper_length_mm",
                    "body_mass_g",
                    "sex",
                    "year",
                ]
            },  # fmt: skip
            "no usable feature columns remain",
            None,
        ),
    ],
)
def test_bad_column_choices_are_400_naming_the_column(
    live_server, dataset_id, body, message, errors
):
    before = len(_jobs(live_server.url))
    response = _train(live_server.url, dataset_id=dataset_id, target="species", **body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["message"].startswith(message), error
    if errors:
        assert errors.items() <= error["errors"].items()
    assert len(_jobs(live_server.url)) == before


def test_the_profile_names_the_columns_training_would_drop(live_server):
    frame = palmerpenguins.load_penguins()
    frame.insert(0, "ref", [f"P{i:04d}" for i in range(len(frame))])
    frame["observer"] = [f"observer-{i % 120}" for i in range(len(frame))]
    with session() as http:
        uploaded = http.post(
            f"{live_server.url}/api/datasets",
            files={"file": ("notes.csv", io.BytesIO(frame.to_csv(index=False).encode()))},
        ).json()
        again = http.get(f"{live_server.url}/api/datasets/{uploaded['id']}").json()
    for profile in (uploaded, again):
        columns = {c["name"]: c for c in profile["columns"]}
        assert columns["ref"]["unusable"] == "ID-like: a different value on every row"
        assert columns["observer"]["warning"].startswith("high cardinality: 120 categories")
        assert "unusable" not in columns["island"] and "warning" not in columns["island"]


def test_a_target_with_a_lone_class_is_refused_before_a_job(live_server):
    rows = (f"{i % 4 + 0.5},{'b' if i == 7 else 'a'}\n" for i in range(30))
    raw = b"x,label\n" + "".join(rows).encode()
    with session() as http:
        uploaded = http.post(
            f"{live_server.url}/api/datasets", files={"file": ("r.csv", io.BytesIO(raw))}
        ).json()
    before = len(_jobs(live_server.url))
    response = _train(live_server.url, dataset_id=uploaded["id"], target="label")
    assert response.status_code == 400
    assert "classes ['b'] have a single row" in response.json()["message"]
    assert response.json()["errors"] == {"target": "label"}
    assert len(_jobs(live_server.url)) == before


def test_the_client_trains_with_choices_and_deletes_finished_jobs(live_server, dataset_id):
    with Client(live_server.url) as client:
        meta = client.train(
            dataset_id,
            target="species",
            name="client-cols",
            params=FAST,
            exclude=["sex"],
            kinds={"year": "categorical"},
            poll=0.1,
        )
        assert meta["columns"] == {"exclude": ["sex"], "kinds": {"year": "categorical"}}
        with pytest.raises(InvalidInput, match="kinds: column 'sex' must be a date/time"):
            client.submit(dataset_id, target="species", name="x", kinds={"sex": "datetime"})
        finished = next(job for job in client.jobs() if job.get("model") == "client-cols:1")
        assert client.delete_job(finished["id"]) == {"deleted": finished["id"]}
        assert finished["id"] not in {job["id"] for job in client.jobs()}
        with pytest.raises(NotFound):
            client.delete_job(finished["id"])
        running = client.submit(
            dataset_id,
            target="species",
            name="slow",
            params={
                "n_estimators": 5000,
                "early_stopping_rounds": 1000,
                "learning_rate": 0.0001,
            },  # fmt: skip
        )
        with pytest.raises(Conflict, match="cancel it first"):
            client.delete_job(running["id"])
        client.cancel_job(running["id"])
        assert _wait(live_server.url, running["id"])["state"] == "cancelled"
        assert client.delete_job(running["id"]) == {"deleted": running["id"]}
