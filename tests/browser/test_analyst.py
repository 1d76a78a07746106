"""The analyst's path in Chromium against the real gunicorn: upload, train, inspect, predict."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from playwright.sync_api import Page, expect

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}
PENGUIN_ROWS = 344
CHARTS = ("roc-chart", "pr-chart", "importance-chart", "learning-chart")
TRAINING_TIMEOUT_MS = 180_000
PHONE = {"width": 390, "height": 844}
# True when Chart.js has an instance on the canvas and it painted some non-blank pixels.
CHART_DRAWN = """(id) => {
    const canvas = document.getElementById(id);
    const chart = canvas && Chart.getChart(canvas);
    if (!chart || !chart.data.datasets.length || !chart.data.datasets[0].data.length) return false;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
    return false;
}"""


# Records every text the job page's progress bar shows, across the redirect to the model page.
PROGRESS_RECORDER = """document.addEventListener("DOMContentLoaded", () => {
    const bar = document.getElementById("job-progress-bar");
    if (!bar) return;
    const seen = () => {
        const texts = JSON.parse(sessionStorage.getItem("progress") || "[]");
        sessionStorage.setItem("progress", JSON.stringify([...texts, bar.textContent]));
    };
    new MutationObserver(seen).observe(bar, {childList: true, characterData: true, subtree: true});
});"""


pytestmark = pytest.mark.usefixtures("no_csp_violations")


def _train_over_api(base: str, csv: Path, name: str, runs: int) -> None:
    """Train `runs` versions of name at once through the JSON API and wait for them all."""
    with requests.Session() as http:
        http.trust_env = False
        with csv.open("rb") as handle:
            upload = http.post(f"{base}/api/datasets", files={"file": handle}, timeout=60)
        upload.raise_for_status()
        body = {
            "dataset_id": upload.json()["id"],
            "target": "species",
            "name": name,
            "params": {"n_estimators": 20},
        }
        jobs = []
        for _ in range(runs):
            response = http.post(f"{base}/api/train", json=body, timeout=60)
            response.raise_for_status()
            jobs.append(response.json()["id"])
        for job_id in jobs:
            _wait_for_job(http, base, job_id)


def _wait_for_job(http: requests.Session, base: str, job_id: str) -> None:
    deadline = time.monotonic() + TRAINING_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        job = http.get(f"{base}/api/jobs/{job_id}", timeout=30).json()
        if job["state"] == "succeeded":
            return
        assert job["state"] != "failed", job
        time.sleep(0.3)
    pytest.fail(f"job {job_id} did not finish in time")


@pytest.fixture(scope="module")
def api_model(training_server, penguins_csv) -> str:
    """A model with two versions trained over the API, for the predict and registry tests."""
    _train_over_api(training_server.url, penguins_csv, "penguins-api", runs=2)
    return "penguins-api"


def _upload(page: Page, base: str, path: Path) -> None:
    page.goto(f"{base}/train")
    page.locator("#file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and profile").click()
    expect(page).to_have_url(re.compile(r"/datasets/[0-9a-f]{16}$"))


def test_analyst_uploads_trains_and_reads_the_model(
    training_server, page, screenshot, penguins_csv
):
    base = training_server.url
    page.add_init_script(PROGRESS_RECORDER)
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if "/api/jobs/" in r.url else None)
    page.goto(base)
    page.get_by_test_id("train-button").click()
    expect(page).to_have_url(f"{base}/train")

    _upload(page, base, penguins_csv)
    expect(page.get_by_test_id("dataset-rows")).to_have_text("344")
    expect(page.get_by_test_id("profile-table").locator("tbody tr")).to_have_count(8)
    expect(page.get_by_test_id("preview-table").locator("tbody tr")).to_have_count(10)
    expect(page.locator("#name")).to_have_value("penguins")
    page.locator("#target").select_option("species")
    page.get_by_text("Advanced settings").click()
    page.locator("#param_n_estimators").fill("50")
    screenshot(page, "dataset")

    page.get_by_test_id("train-submit").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    expect(page.locator("#job-progress")).to_be_visible()
    screenshot(page, "job")
    # The page's script follows the job and opens the model once it succeeded.
    page.wait_for_url(re.compile(r"/models/penguins\?version=1$"), timeout=TRAINING_TIMEOUT_MS)
    assert polls and set(polls) == {200}
    texts = page.evaluate("JSON.parse(sessionStorage.getItem('progress') || '[]')")
    shown = [int(text.rstrip("%")) for text in texts if text.endswith("%")]
    assert shown and shown[-1] == 100 and shown == sorted(shown), texts

    expect(page.get_by_test_id("model-version")).to_have_text("v1")
    accuracy = float(page.get_by_test_id("metric-accuracy").inner_text())
    baseline = float(page.get_by_test_id("metric-baseline").inner_text())
    assert 0.9 <= accuracy <= 1.0 and 0.3 < baseline < 0.6 and accuracy > baseline
    cells = page.get_by_test_id("confusion-matrix").locator("tbody td")
    expect(cells).to_have_count(9)
    assert sum(int(c) for c in cells.all_inner_texts()) == 69  # the 20% test part
    for chart in CHARTS:
        assert page.evaluate(CHART_DRAWN, chart), f"{chart} is not drawn"
    roc_lines = "Chart.getChart(document.getElementById('roc-chart')).data.datasets.length"
    assert page.evaluate(roc_lines) == 4  # one per species and the chance diagonal
    expect(page.get_by_test_id("schema-table").locator("tbody tr")).to_have_count(7)
    screenshot(page, "model")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate(CHART_DRAWN, "roc-chart")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "model-phone")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base)
    row = page.get_by_test_id("models-table").locator("tr", has_text="penguins")
    expect(row.first).to_contain_text("species")
    expect(page.get_by_test_id("jobs-list")).to_contain_text("succeeded")
    screenshot(page, "home")


def test_predict_one_penguin_and_score_the_file(
    training_server, page, screenshot, api_model, penguins_csv
):
    page.goto(f"{training_server.url}/models/{api_model}/predict?version=1")
    form = page.get_by_test_id("predict-form")
    form.get_by_label("island").select_option("Biscoe")
    for feature, value in {
        "bill_length_mm": "46.5",
        "bill_depth_mm": "14.8",
        "flipper_length_mm": "217",
        "body_mass_g": "5200",
        "year": "2008",
    }.items():
        form.get_by_label(feature, exact=True).fill(value)
    form.get_by_label("sex").select_option("female")
    page.get_by_test_id("predict-submit").click()

    label = page.get_by_test_id("predicted-label").inner_text()
    assert label in SPECIES
    shares = [float(p.rstrip("%")) for p in page.get_by_test_id("probability").all_inner_texts()]
    assert len(shares) == 3 and abs(sum(shares) - 100) < 0.5
    assert shares[0] == max(shares)  # the predicted class comes first
    contributions = page.get_by_test_id("contributions").locator("tbody tr")
    expect(contributions.first).to_be_visible()
    assert 1 <= contributions.count() <= 8
    screenshot(page, "predict")

    page.get_by_test_id("batch-form").locator("input[type=file]").set_input_files(str(penguins_csv))
    page.get_by_test_id("batch-submit").click()
    expect(page.get_by_test_id("scored-summary")).to_contain_text(f"{PENGUIN_ROWS} rows scored")
    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    download = info.value
    assert download.suggested_filename == f"{api_model}-v1-scored.csv"
    scored = pd.read_csv(download.path())
    original = pd.read_csv(penguins_csv)
    assert len(scored) == PENGUIN_ROWS
    assert {"prediction", *(f"probability_{s}" for s in SPECIES)} <= set(scored.columns)
    pd.testing.assert_frame_equal(scored[original.columns], original)
    assert (scored["prediction"] == scored["species"]).mean() > 0.9


def test_alias_and_delete_a_version(training_server, page, api_model):
    page.goto(f"{training_server.url}/models/{api_model}?version=2")
    alias_form = page.get_by_test_id("alias-form")
    alias_form.get_by_label("Alias").fill("production")
    alias_form.get_by_label("Version").select_option("1")
    alias_form.get_by_role("button").click()
    expect(page.get_by_test_id("flash")).to_contain_text("@production now points at version 1")
    versions = page.get_by_test_id("versions-table")
    expect(versions.locator("tr[data-version='1']")).to_contain_text("@production")

    page.get_by_test_id("delete-v2").click()
    confirm = page.get_by_test_id("confirm-delete-v2")
    expect(confirm).to_be_visible()
    confirm.click()
    expect(page.get_by_test_id("flash")).to_contain_text(f"Deleted {api_model} version 2")
    expect(versions.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("model-version")).to_have_text("v1")


def test_a_target_that_cannot_train_is_refused_next_to_the_field(
    training_server, page, screenshot, tmp_path
):
    # Three classes pass the profile's checks; the split needs two rows of every class, and
    # "rare" has one: dsba's target check says so before any job is queued.
    data = tmp_path / "rare-class.csv"
    pd.DataFrame(
        {
            "size": [i % 9 for i in range(40)],
            "colour": ["red", "blue"] * 20,
            "label": ["common"] * 20 + ["usual"] * 19 + ["rare"],
        }
    ).to_csv(data, index=False)
    _upload(page, training_server.url, data)
    dataset_url = page.url
    page.locator("#target").select_option("label")
    page.get_by_test_id("train-submit").click()

    expect(page).to_have_url(dataset_url)
    error = page.locator("#target ~ .invalid-feedback")
    expect(error).to_be_visible()
    expect(error).to_contain_text("classes ['rare'] have a single row")
    expect(page.locator("#target")).to_have_value("label")
    screenshot(page, "target-refused")


def test_an_unknown_model_gets_a_friendly_404(training_server, page, screenshot):
    response = page.goto(f"{training_server.url}/models/no-such-model")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not find that page")
    expect(page.get_by_test_id("error-message")).to_contain_text("no-such-model")
    screenshot(page, "not-found")
