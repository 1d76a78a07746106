"""The threshold view in Chromium against the real gunicorn: move the slider, save a version."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from dsba.config import Settings
from dsba.data.ingestion import read_bytes
from dsba.service import LocalService
from tests.imbalanced import imbalanced_cancer

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

pytestmark = pytest.mark.usefixtures("no_csp_violations")


@pytest.fixture(scope="module")
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """gunicorn over a store holding cancer v1, trained for balanced accuracy."""
    workdir = tmp_path_factory.mktemp("threshold")
    service = LocalService(Settings(registry_dir=workdir / "registry", train_threads=1))
    raw = imbalanced_cancer(2).to_csv(index=False).encode()
    dataset = read_bytes(raw, source="cancer.csv", filename="cancer.csv")
    service.train(
        dataset,
        target="diagnosis",
        name="cancer",
        test_size=0.3,
        seed=2,
        optimize="balanced_accuracy",
    )
    plugin = request.config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    with plugin.run_gunicorn(workdir, DSBA_TRAIN_THREADS="1") as server:
        yield server


def test_moving_the_slider_and_saving_a_threshold_version(live_server, page: Page, screenshot):
    page.goto(f"{live_server.url}/models/cancer")
    view = page.get_by_test_id("decision")
    expect(view).to_contain_text("chosen for balanced accuracy")
    expect(page.get_by_test_id("ece")).not_to_have_text("—")
    slider = page.get_by_test_id("threshold-slider")
    first = page.get_by_test_id("threshold-precision").inner_text()
    assert first != "—"
    cells = page.get_by_test_id("threshold-matrix").locator("td")
    low_counts = cells.all_inner_texts()

    slider.fill("0.9")

    expect(page.get_by_test_id("threshold-value")).to_have_text("0.90")
    # Fewer rows are called malignant at 0.9: the predicted-positive column shrinks.
    high_counts = cells.all_inner_texts()
    tp_fp = [int(low_counts[1]) + int(low_counts[3]), int(high_counts[1]) + int(high_counts[3])]
    assert tp_fp[1] < tp_fp[0], (low_counts, high_counts)
    page.get_by_test_id("use-threshold").click()

    expect(page.get_by_test_id("flash")).to_contain_text("Saved cancer v2")
    expect(page.get_by_test_id("flash")).to_contain_text("threshold 0.9")
    expect(page.get_by_test_id("model-version")).to_have_text("v2")
    expect(page.get_by_test_id("threshold-slider")).to_have_value("0.9")
    page.get_by_test_id("threshold-slider").scroll_into_view_if_needed()
    expect(view).to_contain_text("set by hand on v1's booster")
    path = screenshot(page, "threshold")
    view.screenshot(path=str(path.with_name("threshold-view.png")))
    session = requests.Session()
    session.trust_env = False
    meta = session.get(f"{live_server.url}/api/models/cancer:2/metadata", timeout=10).json()
    before = session.get(f"{live_server.url}/api/models/cancer:1/metadata", timeout=10).json()
    assert meta["threshold"] == 0.9 and meta["threshold_from"]["version"] == 1
    assert meta["artifacts"]["model.ubj"] == before["artifacts"]["model.ubj"]
    # The per-class table follows the threshold: at 0.9 no test row is called malignant.
    assert meta["metrics"]["per_class"]["malignant"]["recall"] == 0.0
