"""A regression in Chromium against the real gunicorn: upload, train, read the model, predict."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

TARGET = "body_mass_g"
CHARTS = ("actual-chart", "residual-chart", "decile-chart", "importance-chart", "learning-chart")
TRAINING_TIMEOUT_MS = 180_000
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
# True when Chart.js has an instance on the canvas and it painted some non-blank pixels.
CHART_DRAWN = """(id) => {
    const canvas = document.getElementById(id);
    const chart = canvas && Chart.getChart(canvas);
    if (!chart || !chart.data.datasets.length || !chart.data.datasets[0].data.length) return false;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
    return false;
}"""
GENTOO = {"bill_length_mm": "47.5", "bill_depth_mm": "15", "flipper_length_mm": "218"}

pytestmark = pytest.mark.usefixtures("no_csp_violations")


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def test_a_regression_from_upload_to_the_predicted_interval(
    training_server, page: Page, screenshot, penguins_csv
):
    base = training_server.url
    page.goto(f"{base}/train")
    page.locator("#file").set_input_files(str(penguins_csv))
    page.get_by_role("button", name="Upload and profile").click()
    expect(page).to_have_url(re.compile(r"/datasets/[0-9a-f]{16}$"))

    # The form says what training will infer for the chosen target, before training.
    automatic = page.locator("#task option[value='']")
    page.locator("#target").select_option("species")
    expect(page.get_by_test_id("inferred-task")).to_have_text(
        "For species training infers classification."
    )
    expect(page.locator("#interval")).to_be_disabled()  # a classifier has no intervals
    page.locator("#task").select_option("regression")
    expect(page.locator("#interval")).to_be_enabled()
    page.locator("#task").select_option("")
    page.locator("#target").select_option(TARGET)
    expect(page.get_by_test_id("inferred-task")).to_have_text(
        f"For {TARGET} training infers regression."
    )
    expect(automatic).to_have_text("Automatic (regression)")
    expect(page.locator("#objective")).to_be_enabled()
    page.locator("#name").fill("mass")
    page.get_by_text("Advanced settings").click()
    expect(page.locator("#interval")).to_have_value("0.9")
    page.locator("#param_n_estimators").fill("80")
    page.get_by_test_id("train-submit").click()
    page.wait_for_url(re.compile(r"/models/mass\?version=1$"), timeout=TRAINING_TIMEOUT_MS)

    cards = page.get_by_test_id("metric-cards")
    expect(cards).to_contain_text("RMSE")
    rmse = _number(page.get_by_test_id("metric-rmse").inner_text())
    baseline = _number(page.get_by_test_id("baseline-rmse").inner_text())
    assert 0 < rmse < 0.7 * baseline  # body mass from species, sex and sizes: far better
    assert _number(page.get_by_test_id("metric-r2").inner_text()) > 0.6
    expect(page.get_by_test_id("interval-nominal")).to_have_text("90%")
    assert 75 <= _number(page.get_by_test_id("interval-measured").inner_text()) <= 100
    expect(page.get_by_test_id("confusion-matrix")).to_have_count(0)
    for chart in CHARTS:
        assert page.evaluate(CHART_DRAWN, chart), f"{chart} is not drawn"
    diagonal = "Chart.getChart(document.getElementById('actual-chart')).data.datasets[1].data"
    line = page.evaluate(diagonal)
    assert [p["x"] for p in line] == [p["y"] for p in line]  # the diagonal is y = x
    expect(page.get_by_test_id("versions-table")).to_contain_text("RMSE")
    screenshot(page, "regression-model")

    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate(CHART_DRAWN, "actual-chart")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "regression-model-phone")
    page.set_viewport_size(DESKTOP)

    page.get_by_test_id("predict-link").click()
    form = page.get_by_test_id("predict-form")
    form.get_by_label("species").select_option("Gentoo")
    form.get_by_label("island").select_option("Biscoe")
    for feature, value in GENTOO.items():
        form.get_by_label(feature, exact=True).fill(value)
    form.get_by_label("sex").select_option("male")
    form.get_by_label("year", exact=True).fill("2008")
    page.get_by_test_id("predict-submit").click()

    value = _number(page.get_by_test_id("predicted-value").inner_text())
    lower = _number(page.get_by_test_id("interval-lower").inner_text())
    upper = _number(page.get_by_test_id("interval-upper").inner_text())
    assert lower < value < upper and 4500 < value < 6500
    expect(page.get_by_test_id("predicted-interval")).to_contain_text("90% interval")
    expect(page.get_by_test_id("interval-bar")).to_be_visible()
    expect(page.get_by_test_id("contributions").locator("tbody tr").first).to_be_visible()
    screenshot(page, "regression-predict")

    page.get_by_test_id("batch-form").locator("input[type=file]").set_input_files(str(penguins_csv))
    page.get_by_test_id("batch-submit").click()
    expect(page.get_by_test_id("scored-summary")).to_contain_text("344 rows scored")
    expect(page.get_by_test_id("value-summary")).to_be_visible()
    screenshot(page, "regression-scored")
    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    scored = pd.read_csv(info.value.path())
    assert {"prediction", "prediction_lower", "prediction_upper"} <= set(scored.columns)
    labelled = scored.dropna(subset=[TARGET])
    inside = labelled[TARGET].between(labelled["prediction_lower"], labelled["prediction_upper"])
    assert inside.mean() > 0.8  # mostly training rows: the intervals hold them
