"""Decision thresholds over the API, the client and `dsba --remote`, on the real gunicorn."""

from __future__ import annotations

import numpy as np
import palmerpenguins
import pytest
import requests
from click.testing import CliRunner

from dsba.cli import main
from dsba.client import Client
from dsba.errors import InvalidInput
from tests.imbalanced import imbalanced_cancer


@pytest.fixture(scope="module")
def client(live_server):
    """A client of the module's server."""
    with Client(live_server.url) as api:
        yield api


@pytest.fixture(scope="module")
def http():
    """A requests session that ignores proxies from the shell."""
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.fixture(scope="module")
def frame():
    """The imbalanced breast cancer table."""
    return imbalanced_cancer(2)


@pytest.fixture(scope="module")
def tuned(client, frame):
    """cancer v1, trained through a job for balanced accuracy."""
    return client.train(
        frame,
        target="diagnosis",
        name="cancer",
        test_size=0.3,
        seed=2,
        optimize="balanced_accuracy",
    )


def _expected(probabilities: list[dict], threshold: float) -> list[str]:
    return ["malignant" if p["malignant"] >= threshold else "benign" for p in probabilities]


def test_training_records_the_metric_and_its_threshold(tuned, client):
    assert tuned["optimize"] == "balanced_accuracy"
    assert 0 < tuned["threshold"] < 0.5
    assert tuned["decision"]["source"] == "out_of_fold"
    assert len(tuned["evaluation"]["threshold_table"]["threshold"]) == 100
    assert "ece" in tuned["evaluation"]["calibration"]
    job = client.jobs()[0]
    assert job["request"]["optimize"] == "balanced_accuracy"


def test_predict_and_invocations_apply_the_threshold(live_server, tuned, http, frame):
    rows = frame.drop(columns="diagnosis").to_dict("records")
    answer = http.post(
        f"{live_server.url}/api/predict", json={"model": "cancer:1", "records": rows}, timeout=30
    ).json()
    probabilities = [p["probabilities"] for p in answer["predictions"]]
    labels = [p["label"] for p in answer["predictions"]]
    assert labels == _expected(probabilities, tuned["threshold"])
    assert labels != _expected(probabilities, 0.5)
    invoked = http.post(
        f"{live_server.url}/api/models/cancer:1/invocations",
        json={"dataframe_records": rows},
        timeout=30,
    ).json()
    assert invoked["predictions"] == labels


def test_a_threshold_post_saves_a_new_version(live_server, tuned, http, client, frame):
    reply = http.post(
        f"{live_server.url}/api/models/cancer:1/threshold", json={"threshold": 0.9}, timeout=30
    )
    assert reply.status_code == 201, reply.text
    saved = reply.json()
    assert saved["version"] == 2 and saved["threshold"] == 0.9
    assert saved["artifacts"]["model.ubj"] == tuned["artifacts"]["model.ubj"]
    features = frame.drop(columns="diagnosis")
    old = client.predict_frame("cancer:1", features)
    new = client.predict_frame("cancer:2", features)
    np.testing.assert_array_equal(old.probabilities, new.probabilities)
    assert new.labels == ["malignant" if p >= 0.9 else "benign" for p in new.probabilities[:, 1]]
    assert client.metadata("cancer:1")["threshold"] == tuned["threshold"]


@pytest.mark.parametrize("body", [{"threshold": 1.5}, {"threshold": 0}, {"threshold": "x"}, {}])
def test_a_bad_threshold_is_a_clear_4xx(live_server, tuned, http, body):
    reply = http.post(f"{live_server.url}/api/models/cancer:1/threshold", json=body, timeout=30)
    assert 400 <= reply.status_code < 500
    error = reply.json()
    assert set(error) >= {"code", "status", "message"}
    assert "threshold" in str(error.get("errors"))


def test_a_multiclass_model_has_no_threshold(client):
    client.train(
        palmerpenguins.load_penguins(),
        target="species",
        name="species",
        params={"n_estimators": 5},
        optimize="f1",
    )
    assert client.metadata("species")["optimize"] == "f1"
    with pytest.raises(InvalidInput, match="binary"):
        client.set_threshold("species", 0.3)


def test_an_unknown_metric_is_refused(live_server, http):
    reply = http.post(
        f"{live_server.url}/api/train",
        json={"source": "x.csv", "target": "y", "name": "x", "optimize": "precision"},
        timeout=30,
    )
    assert 400 <= reply.status_code < 500 and "optimize" in str(reply.json()["errors"])


def test_the_cli_sets_a_threshold_remotely(live_server, tuned):
    result = CliRunner().invoke(
        main, ["--remote", live_server.url, "models", "threshold", "cancer:1", "0.3"]
    )
    assert result.exit_code == 0, result.output
    assert "saved cancer:3 with threshold 0.3 (from version 1)" in result.stdout
