"""The job page's Cancel button: a CSRF-protected post that asks the job to stop."""

from __future__ import annotations

import re

import pytest

from dsba.config import Settings
from dsba.jobs.job_store import JobStore, utc_now
from webapp import create_app

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(registry_dir=tmp_path / "registry")


@pytest.fixture
def client(settings):
    """A client of an app with CSRF protection on, as in production."""
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True}).test_client()


def _running_job(settings: Settings) -> str:
    store = JobStore(settings)
    job = store.create({"dataset_id": "0123456789abcdef", "name": "m", "target": "y"})
    # Another container's job, alive by its fresh heartbeat.
    store.write(
        {
            **job,
            "state": "running",
            "host": "another-container",
            "pid": 1,
            "heartbeat_at": utc_now(),
        }
    )
    return job["id"]


def test_the_cancel_button_asks_a_running_job_to_stop(client, settings):
    job_id = _running_job(settings)
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert f'action="/jobs/{job_id}/cancel"' in html and "Cancel training" in html
    token = TOKEN.search(html).group(1)

    refused = client.post(f"/jobs/{job_id}/cancel", data={})
    assert refused.status_code == 400
    assert not JobStore(settings).cancel_requested(job_id)

    response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/jobs/{job_id}"
    assert JobStore(settings).cancel_requested(job_id)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Cancelling: training stops at its next boosting round." in page
    assert "Cancelling…" in page


def test_a_finished_job_has_no_cancel_button_and_cannot_be_cancelled(client, settings):
    store = JobStore(settings)
    job = store.create({"dataset_id": "0123456789abcdef", "name": "m", "target": "y"})
    store.write({**job, "state": "cancelled", "error": "cancelled on request"})
    html = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert "Training cancelled" in html and "Cancel training" not in html
    running = client.get(f"/jobs/{_running_job(settings)}").get_data(as_text=True)
    token = TOKEN.search(running).group(1)

    response = client.post(
        f"/jobs/{job['id']}/cancel", data={"csrf_token": token}, follow_redirects=True
    )

    assert response.status_code == 200
    assert f"Nothing to cancel: job {job['id']} has already ended (cancelled)" in response.get_data(
        as_text=True
    )
    assert store.get(job["id"])["state"] == "cancelled"
