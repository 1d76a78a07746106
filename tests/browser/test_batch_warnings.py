"""A file with misspelt categories, scored in Chromium: the warnings show before the download."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from passengers import FEATURES, MISSPELT_WOMAN, passengers
from playwright.sync_api import expect

from dsba.config import Settings
from dsba.service import LocalService

ROWS = 60


pytestmark = pytest.mark.usefixtures("no_csp_violations")


@pytest.fixture(scope="module")
def titanic(live_server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """'titanic' trained into the live server's store (the server reads models from there)."""
    path = tmp_path_factory.mktemp("titanic") / "passengers.csv"
    passengers().to_csv(path, index=False)
    service = LocalService(Settings(registry_dir=live_server.registry_dir, train_threads=1))
    service.train(str(path), target="survived", name="titanic", params={"n_estimators": 50})
    return "titanic"


@pytest.fixture
def misspelt_csv(tmp_path: Path) -> Path:
    """Passengers whose sex is capitalised and class spelt out, one row barely readable."""
    frame = passengers(rows=ROWS, seed=7)[FEATURES]
    frame["sex"] = frame["sex"].str.capitalize()
    frame.loc[0] = [MISSPELT_WOMAN.get(name, 0) for name in FEATURES]
    frame.loc[1, "pclass"] = "first"
    frame.loc[2] = ["first", "Female", None, 12.0, "Southampton", 1]
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_warnings_show_before_the_download(
    live_server, page, screenshot, titanic, misspelt_csv
):
    page.goto(f"{live_server.url}/models/{titanic}/predict")
    page.get_by_test_id("batch-form").locator("input[type=file]").set_input_files(str(misspelt_csv))
    page.get_by_test_id("batch-submit").click()

    expect(page.get_by_test_id("scored-summary")).to_contain_text(f"{ROWS} rows scored by titanic")
    expect(page.get_by_test_id("unseen-alert")).to_contain_text(f"{ROWS} of {ROWS} rows")
    sex = page.locator('[data-testid="unseen-row"][data-column="sex"]')
    expect(sex.get_by_test_id("unseen-count")).to_have_text(str(ROWS))
    expect(sex).to_contain_text("Female")
    expect(sex).to_contain_text("did you mean female?")
    pclass = page.locator('[data-testid="unseen-row"][data-column="pclass"]')
    expect(pclass.get_by_test_id("unseen-count")).to_have_text("3")
    expect(pclass).to_contain_text("1st, 2nd, 3rd")
    expect(page.get_by_test_id("unreliable")).to_contain_text("1 row has most of the 6 features")
    expect(page.get_by_test_id("unreliable")).to_contain_text("Row 3.")
    screenshot(page, "batch-warnings")
    page.screenshot(path="/tmp/predict-ui-batch-warnings.png", full_page=True)

    with page.expect_download() as info:
        page.get_by_test_id("download").click()
    download = info.value
    assert download.suggested_filename == "titanic-v1-scored.csv"
    scored = pd.read_csv(download.path(), keep_default_na=False)
    assert len(scored) == ROWS
    assert (scored["unseen_features"] >= 1).all()
    assert scored.loc[0, "warnings"] == "unseen pclass='first', sex='Female'"
    assert "unreliable" in scored.loc[2, "warnings"]
    # Reloading the result page works whichever worker answers: nothing lives in a process.
    for _ in range(4):
        page.reload()
        expect(page.get_by_test_id("unseen-table")).to_be_visible()
