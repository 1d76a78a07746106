"""The monitoring page in Chromium: held-out penguins with one feature tripled show its drift."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import palmerpenguins
import pandas as pd
import pytest
import requests
from playwright.sync_api import Page, expect

from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.service import LocalService

SHIFTED = "bill_length_mm"
LOG_DEADLINE = 20.0
# Where the lead looks at it, besides test-artifacts/screenshots with the others.
LEAD_COPY = Path("/tmp/screenshots/monitoring.png")
# True when Chart.js has an instance on the canvas and it painted some non-blank pixels.
CANVAS_DRAWN = """(canvas) => {
    const chart = Chart.getChart(canvas);
    if (!chart || !chart.data.datasets.length) return false;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
    return false;
}"""

pytestmark = pytest.mark.usefixtures("no_csp_violations")


@pytest.fixture(scope="module")
def held_out(live_server) -> pd.DataFrame:
    """'penguins' trained on 60% of the rows in the live server's store; the other 40%."""
    frame = palmerpenguins.load_penguins()
    train = frame.groupby("species", group_keys=False).sample(frac=0.6, random_state=7)
    service = LocalService(Settings(registry_dir=live_server.registry_dir, train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, "penguins.csv", "csv", 1)
    service.train(dataset, target="species", name="penguins", params={"n_estimators": 30})
    return frame.drop(index=train.index)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")
    ]


def _open_when_logged(page: Page, url: str, rows: int) -> None:
    """Open url until the page counts all rows: each worker writes its log a second later."""
    deadline = time.monotonic() + LOG_DEADLINE
    while True:
        page.goto(url)
        shown = page.get_by_test_id("window-rows").inner_text()
        if shown.startswith(f"{rows} predictions") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(page.get_by_test_id("window-rows")).to_contain_text(f"{rows} predictions")


def test_a_tripled_feature_is_the_first_drifted_row(
    live_server, page, screenshot, held_out, tmp_path
):
    shifted = held_out.drop(columns="species")
    shifted[SHIFTED] = shifted[SHIFTED] * 3
    with requests.Session() as http:
        http.trust_env = False
        answer = http.post(
            f"{live_server.url}/api/predict",
            json={"model": "penguins", "records": _records(shifted)},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text

    page.goto(f"{live_server.url}/models/penguins")
    page.get_by_test_id("monitoring-link").click()
    expect(page).to_have_url(f"{live_server.url}/models/penguins/monitoring?version=1")
    _open_when_logged(page, page.url, len(shifted))

    expect(page.get_by_test_id("status-banner")).to_have_attribute("data-status", "drift")
    first = page.get_by_test_id("drift-row").first
    expect(first).to_have_attribute("data-feature", SHIFTED)
    expect(first.get_by_test_id("drifted")).to_have_text("drifted")
    histogram = page.locator("canvas[data-histogram='0']")
    expect(histogram).to_be_visible()
    page.wait_for_function(CANVAS_DRAWN, arg=histogram.element_handle())
    for chart in ("volume-chart", "prediction-chart", "accuracy-chart"):
        page.wait_for_function(CANVAS_DRAWN, arg=page.locator(f"#{chart}").element_handle())
    # A closed row draws its histogram when opened.
    page.get_by_test_id("drift-row").nth(1).get_by_role("button", name="histogram").click()
    page.wait_for_function(
        CANVAS_DRAWN, arg=page.locator("canvas[data-histogram='1']").element_handle()
    )
    # True labels sent back through the form give the live accuracy beside the estimate.
    labels = tmp_path / "labels.csv"
    ids = [p["id"] for p in answer.json()["predictions"]]
    pd.DataFrame({"id": ids, "label": held_out["species"]}).to_csv(labels, index=False)
    page.get_by_test_id("feedback-form").locator("input[type=file]").set_input_files(str(labels))
    page.get_by_test_id("feedback-submit").click()
    expect(page.get_by_test_id("feedback-accepted")).to_have_text(str(len(ids)))
    expect(page.get_by_test_id("live-accuracy")).to_have_text(re.compile(r"^[01]\.\d{3}$"))
    page.wait_for_function(
        CANVAS_DRAWN, arg=page.locator("canvas[data-histogram='0']").element_handle()
    )
    path = screenshot(page, "monitoring")
    LEAD_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, LEAD_COPY)
