"""Regression over the API on the real gunicorn: train, metadata, predict, invocations, client."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
import requests

from dsba.client import Client
from webapp.api.schemas import PredictResponseSchema

FAST = {"n_estimators": 40}


def session() -> requests.Session:
    """A session that never sends loopback traffic through a proxy from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


def upload(url: str, frame: pd.DataFrame, name: str) -> str:
    """Upload a frame as CSV; return the dataset id."""
    data = io.BytesIO(frame.to_csv(index=False).encode())
    response = session().post(f"{url}/api/datasets", files={"file": (name, data)}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait(url: str, job_id: str, timeout: float = 180) -> dict:
    """Poll a job until it has an outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = session().get(f"{url}/api/jobs/{job_id}", timeout=10).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} unfinished after {timeout} s")


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def mass(live_server, penguins):
    """A regressor of body mass trained through POST /api/train, and its metadata."""
    dataset_id = upload(live_server.url, penguins, "penguins.csv")
    body = {
        "dataset_id": dataset_id,
        "target": "body_mass_g",
        "name": "mass",
        "params": FAST,
        "interval": 0.8,
    }
    started = session().post(f"{live_server.url}/api/train", json=body, timeout=60)
    assert started.status_code == 202, started.text
    assert started.json()["request"]["task"] == "regression"
    job = wait(live_server.url, started.json()["id"])
    assert job["state"] == "succeeded", job
    meta = session().get(f"{live_server.url}/api/models/mass/metadata", timeout=10).json()
    return dataset_id, meta


def test_the_api_trains_a_regressor_with_intervals(mass):
    _, meta = mass
    assert (meta["task"], meta["classes"]) == ("regression", [])
    assert meta["intervals"]["coverage"] == 0.8
    assert (
        meta["metrics"]["r2"] > 0.6 and meta["metrics"]["rmse"] < meta["metrics"]["baseline_rmse"]
    )
    assert {"baseline", "predicted_vs_actual", "error_by_decile", "intervals"} <= set(
        meta["evaluation"]
    )


def test_predict_answers_values_with_intervals(live_server, mass, penguins):
    records = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in penguins.drop(columns="body_mass_g").head(3).to_dict("records")
    ]
    answer = session().post(
        f"{live_server.url}/api/predict",
        json={"model": "mass", "records": records, "contributions": True},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert PredictResponseSchema().validate(body) == {}
    for row in body["predictions"]:
        assert {"value", "interval", "contributions"} <= set(row)
        assert "label" not in row and "probabilities" not in row
        assert row["interval"][0] <= row["value"] <= row["interval"][1]


def test_invocations_answer_numbers(live_server, mass, penguins):
    rows = penguins.drop(columns="body_mass_g").head(5)
    url = f"{live_server.url}/api/models/mass/invocations"
    # pandas writes NaN as null, as MLflow's clients send it.
    split = json.loads(rows.to_json(orient="split", index=False))
    answer = session().post(url, json={"dataframe_split": split}, timeout=30)
    assert answer.status_code == 200, answer.text
    values = answer.json()["predictions"]
    assert len(values) == 5 and all(isinstance(v, float) for v in values)
    csv = session().post(
        url, data=rows.to_csv(index=False), headers={"Content-Type": "text/csv"}, timeout=30
    )
    assert csv.json()["predictions"] == pytest.approx(values)


def test_the_client_trains_and_scores_a_regression(live_server, penguins):
    client = Client(live_server.url)
    rated = penguins.assign(year=penguins["year"] - 2000)  # 7, 8, 9: a few whole numbers
    meta = client.train(
        rated, target="year", name="years", params=FAST, task="regression", interval=0.7
    )
    assert meta["task"] == "regression" and meta["intervals"]["coverage"] == 0.7
    scored = client.predict_frame("years", rated.drop(columns="year").head(4))
    assert scored.is_regression and scored.intervals.shape == (4, 2)
    framed = scored.to_frame(rated.head(4))
    assert {"prediction", "prediction_lower", "prediction_upper"} <= set(framed.columns)


def _frame(target) -> pd.DataFrame:
    n = len(target)
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 9, n), "y": target})


LINE = list(np.linspace(0.1, 9.9, 30))


@pytest.mark.parametrize(
    ("target", "extra", "status", "message"),
    [
        (["p", "q", "r"] * 10, {"task": "regression"}, 400, "holds text or true/false values"),
        ([1.5, float("inf")] + [2.5, 3.5] * 14, {}, 400, "has an infinite value (inf on row 1)"),
        ([3.25] * 30, {}, 400, "is constant (3.25)"),
        (LINE[:12], {}, 400, "has 12 labelled rows; regression needs at least 20"),
        (LINE, {"params": {"objective": "reg:linear"}}, 400, "parameter 'objective' must be"),
        (LINE, {"params": {"objective": "reg:gamma"}, "task": "classification"}, 400, "unknown"),
        # Bodies the request schema refuses: 422 with the field, as for test_size.
        (LINE, {"task": "ranking"}, 422, "Must be one of: classification, regression"),
        (LINE, {"interval": 0.995}, 422, "interval"),
    ],
)
def test_bad_regression_requests_are_refused_and_store_nothing(
    live_server, target, extra, status, message
):
    dataset_id = upload(live_server.url, _frame(target), "bad.csv")
    body = {"dataset_id": dataset_id, "target": "y", "name": "bad", **extra}
    answer = session().post(f"{live_server.url}/api/train", json=body, timeout=60)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    listed = session().get(f"{live_server.url}/api/models", timeout=10).json()
    assert "bad" not in {m["name"] for m in listed}
    jobs = session().get(f"{live_server.url}/api/jobs", timeout=10).json()
    assert all(job["request"]["name"] != "bad" for job in jobs)
