"""/metrics is read with the metrics token or an API token, and counts jobs without reading
every job record on every scrape."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

import dsba.jobs.job_store
from dsba.auth import hash_token
from dsba.config import Settings
from dsba.jobs.job_store import utc_now
from dsba.store.atomic import atomic_write_json
from webapp import create_app

READER = "reader-token"
SCRAPER = "scraper-token"


def _app(tmp_path, *, api_tokens: str = "", metrics_token: str = ""):
    settings = Settings(registry_dir=tmp_path / "registry", api_tokens=api_tokens)
    return create_app(
        {"DSBA_SETTINGS": settings, "TESTING": True, "DSBA_METRICS_TOKEN": metrics_token}
    )


def _get(app, token: str | None = None, path: str = "/metrics"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().get(path, headers=headers)


def test_metrics_are_open_on_a_laptop_without_any_token(tmp_path):
    assert _get(_app(tmp_path)).status_code == 200


def test_with_api_tokens_metrics_need_a_token(tmp_path):
    app = _app(tmp_path, api_tokens=f"ann:reader:{hash_token(READER)}", metrics_token=SCRAPER)
    refused = _get(app)
    assert refused.status_code == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
    assert _get(app, "wrong").status_code == 401
    assert _get(app, READER).status_code == 200
    assert _get(app, SCRAPER).status_code == 200
    # The scraper's token opens /metrics only.
    assert _get(app, SCRAPER, "/api/models").status_code == 401


def test_a_metrics_token_closes_metrics_even_without_api_tokens(tmp_path):
    app = _app(tmp_path, metrics_token=SCRAPER)
    assert _get(app).status_code == 401
    assert _get(app, "wrong").status_code == 401
    assert _get(app, SCRAPER).status_code == 200


def _job(folder, state: str):
    job_id = uuid.uuid4().hex
    record = {"id": job_id, "state": state, "request": {}, "created_at": utc_now()}
    # Alive on another host: its heartbeat is what keeps it running.
    record.update(host="another-host", pid=1, heartbeat_at=utc_now())
    atomic_write_json(folder / f"{job_id}.json", record)
    return folder / f"{job_id}.json"


def _jobs_gauge(app) -> dict[str, float]:
    text = _get(app).get_data(as_text=True)
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "dsba_jobs"]
    return {sample.labels["state"]: sample.value for sample in family.samples}


def test_job_counts_read_only_active_and_new_records(tmp_path, monkeypatch):
    app = _app(tmp_path)
    folder = tmp_path / "registry" / "jobs"
    folder.mkdir(parents=True)
    paths = [_job(folder, state) for state in ["succeeded"] * 40 + ["failed"] * 10]
    for _ in range(2):
        _job(folder, "running")
    (folder / "not-a-job.json").write_text("{}")
    reads = []
    original = dsba.jobs.job_store.read_json
    monkeypatch.setattr(
        dsba.jobs.job_store, "read_json", lambda path: reads.append(path) or original(path)
    )

    assert _jobs_gauge(app) == {
        "queued": 0,
        "running": 2,
        "succeeded": 40,
        "failed": 10,
        "cancelled": 0,
    }
    assert len(reads) == 52
    reads.clear()
    _job(folder, "failed")
    paths[0].unlink()  # pruned

    second = _jobs_gauge(app)

    # The two running jobs and the new one are read; the 49 finished ones are remembered.
    assert len(reads) == 3
    assert second == {"queued": 0, "running": 2, "succeeded": 39, "failed": 11, "cancelled": 0}


@pytest.mark.parametrize("missing", [True, False])
def test_job_counts_of_an_empty_store_are_zero(tmp_path, missing):
    app = _app(tmp_path)
    if not missing:
        (tmp_path / "registry" / "jobs").mkdir(parents=True)
    assert _jobs_gauge(app) == {
        "queued": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }
