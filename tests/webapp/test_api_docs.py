"""The OpenAPI document gets a programmer started: its quick start and examples work as written."""

from __future__ import annotations

import re
import time

import palmerpenguins
import pytest
import requests


@pytest.fixture(scope="module")
def http():
    """A requests session that keeps loopback traffic away from any proxy of the shell."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture(scope="module")
def spec(live_server, http) -> dict:
    """The served OpenAPI document."""
    answer = http.get(f"{live_server.url}/api/openapi.json", timeout=30)
    assert answer.status_code == 200
    return answer.json()


def example(spec: dict, path: str, method: str = "post") -> dict:
    """The JSON request-body example the document gives for an operation."""
    return spec["paths"][path][method]["requestBody"]["content"]["application/json"]["example"]


def test_the_introduction_has_a_quick_start_and_a_way_back_to_the_app(spec):
    intro = spec["info"]["description"]
    assert "](/)" in intro and "](/train)" in intro
    steps = [
        intro.index(step)
        for step in ("POST /api/datasets", "POST /api/train", "GET /api/jobs/", "POST /api/predict")
    ]
    assert steps == sorted(steps), "the quick start goes upload, train, job, predict"
    # Each path the quick start names is one the document has.
    for path in re.findall(r"`(?:GET|POST) (/api/[a-z]+)`", intro):
        assert path in spec["paths"], path


def test_the_bearer_token_is_declared_for_swagger_s_authorize(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "description": "",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert spec["paths"]["/readyz"]["get"]["security"] == []


def test_the_examples_work_on_a_fresh_store_in_the_quick_start_s_order(spec, live_server, http):
    base = live_server.url
    predict_body = example(spec, "/api/predict")
    # Before training, the example says what to train; the server says what is missing.
    assert "train it first" in spec["paths"]["/api/predict"]["post"]["requestBody"]["description"]
    missing = http.post(f"{base}/api/predict", json=predict_body, timeout=30)
    assert missing.status_code == 404 and "penguins" in missing.json()["message"]

    csv = palmerpenguins.load_penguins().to_csv(index=False).encode()
    uploaded = http.post(f"{base}/api/datasets", files={"file": ("penguins.csv", csv)}, timeout=60)
    assert uploaded.status_code == 201, uploaded.text
    train_body = example(spec, "/api/train") | {"dataset_id": uploaded.json()["id"]}
    started = http.post(f"{base}/api/train", json=train_body, timeout=60)
    assert started.status_code == 202, started.text
    job_url = f"{base}/api/jobs/{started.json()['id']}"
    deadline = time.monotonic() + 180
    while (job := http.get(job_url, timeout=30).json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert (job["state"], job["model"]) == ("succeeded", "penguins:1"), job

    scored = http.post(f"{base}/api/predict", json=predict_body, timeout=30)
    assert scored.status_code == 200, scored.text
    assert scored.json()["predictions"][0]["label"] in {"Adelie", "Chinstrap", "Gentoo"}
    assert scored.json()["warnings"] == []
    invocations = example(spec, "/api/models/{ref}/invocations")
    mlflow = http.post(f"{base}/api/models/penguins/invocations", json=invocations, timeout=30)
    assert mlflow.status_code == 200, mlflow.text
