"""Cancelling a training job from its page in Chromium, against the real gunicorn."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import requests
from playwright.sync_api import Page, expect

# Boosting on pure noise with patient early stopping: minutes of rounds unless stopped.
SLOW = {"n_estimators": 5000, "early_stopping_rounds": 1000, "max_depth": 8}


def _slow_job(base: str) -> str:
    http = requests.Session()
    http.trust_env = False
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20_000, 8)), columns=[f"x{i}" for i in range(8)])
    frame["label"] = rng.choice(["a", "b"], size=len(frame))
    data = io.BytesIO(frame.to_csv(index=False).encode())
    uploaded = http.post(f"{base}/api/datasets", files={"file": ("noise.csv", data)}, timeout=60)
    assert uploaded.status_code == 201, uploaded.text
    body = {"dataset_id": uploaded.json()["id"], "target": "label", "name": "noise", "params": SLOW}
    started = http.post(f"{base}/api/train", json=body, timeout=60)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 120
    while http.get(f"{base}/api/jobs/{job_id}", timeout=10).json()["progress"]["round"] == 0:
        assert time.monotonic() < deadline, "the job never started boosting"
        time.sleep(0.2)
    return job_id


def test_the_cancel_button_stops_a_running_job(live_server, page: Page, screenshot):
    job_id = _slow_job(live_server.url)
    page.goto(f"{live_server.url}/jobs/{job_id}")
    expect(page.get_by_test_id("job-state")).to_have_text("running")

    page.get_by_test_id("cancel-job").click()

    expect(page.get_by_test_id("flash")).to_contain_text("Cancelling")
    error = page.get_by_test_id("job-error")
    expect(error).to_be_visible(timeout=60_000)
    expect(error).to_contain_text("Training cancelled")
    expect(page.get_by_test_id("job-state")).to_have_text("cancelled")
    expect(page.get_by_test_id("cancel-job")).to_have_count(0)
    screenshot(page, "job-cancelled")
    page.goto(f"{live_server.url}/")
    expect(page.get_by_test_id("jobs-list")).to_contain_text("cancelled")
