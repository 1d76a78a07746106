"""The monitoring page of a regression model in Chromium: the predicted values' drift, live
error from true values uploaded through the form, and no estimate pretended."""

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
from tests.browser.test_monitoring import CANVAS_DRAWN, _records

# Every penguin a Gentoo (the heaviest species): the mix of the population moved, and the
# values with it, as the model leans on the species most.
SHIFTED = "species"
LOG_DEADLINE = 20.0
LEAD_COPY = Path("/tmp/screenshots/monitoring-regression.png")

pytestmark = pytest.mark.usefixtures("no_csp_violations")


@pytest.fixture(scope="module")
def held_out(live_server) -> pd.DataFrame:
    """'mass' (penguins' body mass) trained on 60% of the rows in the live store; the rest."""
    frame = palmerpenguins.load_penguins().dropna(subset=["body_mass_g"])
    train = frame.sample(frac=0.6, random_state=7)
    service = LocalService(Settings(registry_dir=live_server.registry_dir, train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, "mass.csv", "csv", 1)
    service.train(
        dataset, target="body_mass_g", name="mass", params={"n_estimators": 30}, task="regression"
    )
    return frame.drop(index=train.index)


def _open_when_logged(page: Page, url: str, rows: int) -> None:
    deadline = time.monotonic() + LOG_DEADLINE
    while True:
        page.goto(url)
        shown = page.get_by_test_id("window-rows").inner_text()
        if shown.startswith(f"{rows} predictions") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(page.get_by_test_id("window-rows")).to_contain_text(f"{rows} predictions")


def test_values_drift_and_uploaded_true_values_give_the_live_error(
    live_server, page, screenshot, held_out, tmp_path
):
    shifted = held_out.drop(columns="body_mass_g")
    shifted[SHIFTED] = "Gentoo"
    with requests.Session() as http:
        http.trust_env = False
        answer = http.post(
            f"{live_server.url}/api/predict",
            json={"model": "mass", "records": _records(shifted)},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    _open_when_logged(page, f"{live_server.url}/models/mass/monitoring?version=1", len(shifted))

    expect(page.get_by_test_id("status-banner")).to_have_attribute("data-status", "drift")
    expect(page.get_by_test_id("drift-row").first).to_have_attribute("data-feature", SHIFTED)
    expect(page.get_by_test_id("prediction-drifted")).to_have_text("drifted")
    expect(page.get_by_test_id("prediction-drift")).to_contain_text("predicted values")
    expect(page.get_by_test_id("no-estimate")).to_contain_text("No estimate without labels")
    for chart in ("volume-chart", "prediction-chart"):
        page.wait_for_function(CANVAS_DRAWN, arg=page.locator(f"#{chart}").element_handle())

    # A text value is refused with the id named; true values are accepted.
    ids = [p["id"] for p in answer.json()["predictions"]]
    values = tmp_path / "values.csv"
    truth = held_out["body_mass_g"].tolist()
    pd.DataFrame({"id": ids, "label": ["heavy", *truth[1:]]}).to_csv(values, index=False)
    form = page.get_by_test_id("feedback-form")
    form.locator("input[type=file]").set_input_files(str(values))
    page.get_by_test_id("feedback-submit").click()
    expect(page.get_by_test_id("feedback-error")).to_contain_text(ids[0])
    pd.DataFrame({"id": ids, "label": truth}).to_csv(values, index=False)
    form.locator("input[type=file]").set_input_files(str(values))
    page.get_by_test_id("feedback-submit").click()
    expect(page.get_by_test_id("feedback-accepted")).to_have_text(str(len(ids)))
    expect(page.get_by_test_id("live-rmse")).to_have_text(re.compile(r"^\d+\.\d{3}$"))
    expect(page.get_by_test_id("live-coverage")).to_have_text(re.compile(r"^\d+%$"))
    page.wait_for_function(CANVAS_DRAWN, arg=page.locator("#accuracy-chart").element_handle())
    path = screenshot(page, "monitoring-regression")
    LEAD_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, LEAD_COPY)
