"""Back from a running job's page in Chromium: the form says the job is still running."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import requests
from playwright.sync_api import Page, expect


def _noise_dataset(base: str) -> str:
    """Upload a table of pure noise, on which boosting runs for minutes unless stopped."""
    http = requests.Session()
    http.trust_env = False
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20_000, 8)), columns=[f"x{i}" for i in range(8)])
    frame["label"] = rng.choice(["a", "b"], size=len(frame))
    data = io.BytesIO(frame.to_csv(index=False).encode())
    uploaded = http.post(f"{base}/api/datasets", files={"file": ("noise.csv", data)}, timeout=60)
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()["id"]


def test_back_from_a_running_job_shows_it_is_still_running(live_server, page: Page, screenshot):
    base = live_server.url
    dataset_id = _noise_dataset(base)
    page.goto(f"{base}/datasets/{dataset_id}")
    expect(page.get_by_test_id("running-jobs")).to_have_count(0)
    page.get_by_label("Target column").select_option("label")
    page.get_by_label("Model name").fill("noise")
    page.locator("details.advanced summary").click()
    page.locator("#param_n_estimators").fill("5000")
    page.locator("#param_early_stopping_rounds").fill("1000")
    page.locator("#param_max_depth").fill("8")
    page.get_by_test_id("train-submit").click()
    expect(page.get_by_test_id("job-state")).to_have_text("running", timeout=60_000)
    job_url = page.url

    page.go_back()
    expect(page).to_have_url(f"{base}/datasets/{dataset_id}")
    running = page.get_by_test_id("running-jobs")
    expect(running).to_contain_text("A job is running")
    expect(running).to_contain_text("training noise")
    screenshot(page, "job-back-running")
    # The train page (step 1) says so too, and the link leads back to the job.
    page.goto(f"{base}/train")
    page.get_by_test_id("running-jobs").get_by_role("link", name="training noise").click()
    expect(page).to_have_url(job_url)

    page.get_by_test_id("cancel-job").click()
    expect(page.get_by_test_id("job-state")).to_have_text("cancelled", timeout=60_000)
    page.go_back()
    page.reload()
    expect(page.get_by_test_id("running-jobs")).to_have_count(0)


def test_the_form_pages_are_not_kept_by_the_browser(live_server):
    http = requests.Session()
    http.trust_env = False
    dataset_id = _noise_dataset(live_server.url)
    for path in ("/train", f"/datasets/{dataset_id}"):
        answer = http.get(f"{live_server.url}{path}", timeout=30)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in http.get(f"{live_server.url}/", timeout=30).headers.get(
        "Cache-Control", ""
    )
