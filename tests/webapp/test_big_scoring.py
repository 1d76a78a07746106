"""A file over one request's limits is scored by a job: from the page and through the API."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest
from passengers import FEATURES, passengers

from dsba.config import Settings
from dsba.service import LocalService
from webapp import create_app

ROWS = 3000
JOB_URL = re.compile(r"^/jobs/([0-9a-f]{32})$")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """'titanic' in a store whose requests score at most 1,000 rows or 64 KB."""
    root = tmp_path_factory.mktemp("bigweb")
    settings = Settings(
        registry_dir=root / "registry",
        train_threads=1,
        max_batch_rows=1000,
        max_predict_bytes=64 * 1024,
        max_upload_bytes=4 * 1024 * 1024,
    )
    passengers().to_csv(root / "train.csv", index=False)
    LocalService(settings).train(
        str(root / "train.csv"), target="survived", name="titanic", params={"n_estimators": 30}
    )
    return settings


@pytest.fixture(scope="module")
def app(settings):
    """An app over the module's store."""
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


def _csv(rows: int, target: bool = True, seed: int = 5) -> bytes:
    frame = passengers(rows=rows, seed=seed)
    return frame[FEATURES + (["survived"] if target else [])].to_csv(index=False).encode()


def _wait(client, job_id: str) -> dict:
    for _ in range(600):
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(job)


def test_the_page_scores_a_file_over_the_request_limit_in_a_job(client):
    raw = _csv(ROWS)
    response = client.post(
        "/models/titanic/predict/batch", data={"file": (io.BytesIO(raw), "people.csv")}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = JOB_URL.match(response.headers["Location"])
    assert match, response.headers["Location"]
    job = _wait(client, match.group(1))
    assert job["state"] == "succeeded", job.get("error")
    assert job["progress"] == {"rows": ROWS, "total": ROWS}

    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{ROWS:,} rows scored by titanic" in html
    assert 'data-testid="scored-metrics"' in html  # the file held the target
    accuracy = job["result"]["metrics"]["accuracy"]
    assert f'data-testid="metric-accuracy">{accuracy:.3f}<' in html
    assert "true labels were recorded as feedback" in html

    with client.get(f"/jobs/{job['id']}/scored.csv") as download:
        assert download.status_code == 200
        assert "filename=titanic-v1-scored.csv" in download.headers["Content-Disposition"]
        scored = pd.read_csv(io.BytesIO(download.get_data()))
    assert len(scored) == ROWS and "probability_yes" in scored.columns
    assert (scored["prediction"] == scored["survived"]).mean() == pytest.approx(accuracy, abs=1e-6)


def test_a_small_file_is_still_scored_at_once(client):
    response = client.post(
        "/models/titanic/predict/batch", data={"file": (io.BytesIO(_csv(50)), "people.csv")}
    )
    assert re.match(r"^/models/titanic/predict/batch/[A-Za-z0-9_-]{32}$", response.location)


def test_the_help_text_states_the_real_limits(client):
    html = client.get("/models/titanic/predict").get_data(as_text=True)
    assert "Up to 4 MB; a file over 1,000 rows or 64 KB is scored in the background" in html


def test_the_api_starts_a_job_and_serves_its_file(client):
    response = client.post(
        "/api/score",
        data={"file": (io.BytesIO(_csv(ROWS, target=False)), "people.csv"), "model": "titanic"},
    )
    assert response.status_code == 202, response.get_json()
    job = _wait(client, response.get_json()["id"])
    assert job["state"] == "succeeded" and "metrics" not in job["result"]
    assert job["result"]["rows"] == ROWS
    with client.get(f"/api/jobs/{job['id']}/scored") as scored:
        assert scored.status_code == 200 and scored.mimetype == "text/csv"
        assert len(pd.read_csv(io.BytesIO(scored.get_data()))) == ROWS


@pytest.mark.parametrize(
    ("body", "name", "status", "words"),
    [
        (b"", "empty.csv", 400, "file is empty"),
        (bytes(range(256)) * 64, "blob.csv", 400, "binary"),
        (b"colour,size\nred,2\n", "other.csv", 400, "missing feature columns: pclass"),
    ],
)
def test_bad_files_get_a_clear_4xx(client, body, name, status, words):
    response = client.post(
        "/api/score", data={"file": (io.BytesIO(body), name), "model": "titanic"}
    )
    assert response.status_code == status, response.get_json()
    error = response.get_json()
    assert words in error["message"] and error["code"] == status
    assert "/" not in error["message"]  # no server path


def test_unknown_models_and_jobs_are_404(client):
    response = client.post(
        "/api/score", data={"file": (io.BytesIO(_csv(10)), "p.csv"), "model": "nobody"}
    )
    assert response.status_code == 404
    assert client.get(f"/api/jobs/{'0' * 32}/scored").status_code == 404
