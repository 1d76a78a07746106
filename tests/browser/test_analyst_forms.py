"""The analyst's forms in Chromium on the real gunicorn: column controls, retrain, try again,
removing jobs, and uploads judged by their content."""

from __future__ import annotations

import re
from pathlib import Path

import palmerpenguins
import pandas as pd
import pytest
import requests
from playwright.sync_api import Page, expect

from dsba.config import Settings
from dsba.jobs.job_store import JobStore, utc_now

TRAINING_TIMEOUT_MS = 180_000

pytestmark = pytest.mark.usefixtures("no_csp_violations")


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """penguins with an id, a constant and a many-valued text column, as a CSV file."""
    frame = palmerpenguins.load_penguins()
    frame.insert(0, "penguin_ref", [f"P{i:04d}" for i in range(len(frame))])
    frame["colony"] = "antarctica"
    frame["observer"] = [f"observer-{i % 120}" for i in range(len(frame))]
    path = tmp_path_factory.mktemp("data") / "field-notes.csv"
    frame.to_csv(path, index=False)
    return path


def _upload(page: Page, base: str, path: Path) -> str:
    page.goto(f"{base}/train")
    page.locator("#file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and profile").click()
    expect(page).to_have_url(re.compile(r"/datasets/[0-9a-f]{16}$"))
    return page.url


def _row(page: Page, column: str):
    return page.get_by_test_id("profile-table").locator(f"tr[data-column='{column}']")


def _metadata(base: str, ref: str) -> dict:
    with requests.Session() as http:
        http.trust_env = False
        return http.get(f"{base}/api/models/{ref}/metadata", timeout=30).json()


def test_column_controls_shape_the_model_and_retrain_keeps_them(
    training_server, page, screenshot, table_csv
):
    base = training_server.url
    dataset_url = _upload(page, base, table_csv)
    expect(_row(page, "penguin_ref").get_by_test_id("column-note")).to_have_text(
        "Left out: ID-like: a different value on every row"
    )
    expect(_row(page, "colony").get_by_test_id("column-note")).to_contain_text("constant")
    expect(_row(page, "observer").get_by_test_id("column-note")).to_contain_text(
        "high cardinality: 120 categories"
    )
    expect(_row(page, "penguin_ref").get_by_test_id("use-column")).not_to_be_checked()
    expect(_row(page, "island").get_by_test_id("use-column")).to_be_checked()
    expect(_row(page, "year").get_by_test_id("column-kind")).to_have_value("numeric")
    expect(page.locator("#target option[value='penguin_ref']")).to_be_disabled()
    expect(page.locator("#target option[value='colony']")).to_be_disabled()

    _row(page, "island").get_by_test_id("use-column").uncheck()
    _row(page, "observer").get_by_test_id("use-column").uncheck()
    _row(page, "year").get_by_test_id("column-kind").select_option("categorical")
    page.locator("#target").select_option("species")
    page.locator("#name").fill("field-notes")
    page.get_by_text("Advanced settings").click()
    page.locator("#param_n_estimators").fill("15")
    page.locator("#param_max_depth").fill("3")
    page.get_by_test_id("profile-table").scroll_into_view_if_needed()
    screenshot(page, "column-controls")

    # A kind the values do not fit: refused next to that column, nothing queued.
    _row(page, "sex").get_by_test_id("column-kind").select_option("numeric")
    page.get_by_test_id("train-submit").click()
    expect(page).to_have_url(dataset_url)
    expect(_row(page, "sex").get_by_test_id("column-error")).to_have_text(
        "kinds: column 'sex' must be numeric; row 0 has 'male'"
    )
    # The form comes back as it was sent: settings open, choices kept.
    expect(page.get_by_test_id("advanced")).to_have_attribute("open", "")
    expect(page.locator("#param_max_depth")).to_have_value("3")
    expect(_row(page, "island").get_by_test_id("use-column")).not_to_be_checked()
    expect(_row(page, "year").get_by_test_id("column-kind")).to_have_value("categorical")

    _row(page, "sex").get_by_test_id("column-kind").select_option("categorical")
    page.get_by_test_id("train-submit").click()
    page.wait_for_url(re.compile(r"/models/field-notes\?version=1$"), timeout=TRAINING_TIMEOUT_MS)
    meta = _metadata(base, "field-notes:1")
    assert set(meta["features"]) == {
        "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"
    }  # fmt: skip
    assert meta["columns"] == {"exclude": ["island", "observer"], "kinds": {"year": "categorical"}}
    assert (meta["params"]["max_depth"], meta["params"]["n_estimators"]) == (3, 15)

    page.get_by_test_id("retrain-link").click()
    expect(page.locator("#target")).to_have_value("species")
    expect(page.locator("#name")).to_have_value("field-notes")
    expect(page.get_by_test_id("advanced")).to_have_attribute("open", "")
    expect(page.locator("#param_n_estimators")).to_have_value("15")
    expect(page.locator("#param_max_depth")).to_have_value("3")
    expect(_row(page, "island").get_by_test_id("use-column")).not_to_be_checked()
    expect(_row(page, "observer").get_by_test_id("use-column")).not_to_be_checked()
    expect(_row(page, "year").get_by_test_id("column-kind")).to_have_value("categorical")
    page.get_by_test_id("train-submit").click()
    page.wait_for_url(re.compile(r"/models/field-notes\?version=2$"), timeout=TRAINING_TIMEOUT_MS)
    again = _metadata(base, "field-notes:2")
    assert again["columns"] == meta["columns"] and again["params"] == meta["params"]
    assert again["features"] == meta["features"]


def test_try_again_keeps_the_failed_jobs_choices_and_finished_jobs_can_go(
    training_server, page, table_csv
):
    base = training_server.url
    dataset_url = _upload(page, base, table_csv)
    dataset_id = dataset_url.rsplit("/", 1)[1]
    jobs = JobStore(Settings(registry_dir=training_server.registry_dir))
    failed = jobs.create(
        {
            "dataset_id": dataset_id,
            "dataset": "field-notes.csv",
            "name": "failed-one",
            "target": "species",
            "params": {"n_estimators": 40, "learning_rate": 0.05},
            "test_size": 0.25,
            "seed": 11,
            "exclude": ["sex"],
            "kinds": {"year": "categorical"},
        }
    )
    jobs.write({**failed, "state": "failed", "error": "out of memory", "finished_at": utc_now()})

    page.goto(f"{base}/jobs/{failed['id']}")
    expect(page.get_by_test_id("job-error")).to_contain_text("out of memory")
    page.get_by_test_id("try-again").click()
    expect(page.locator("#target")).to_have_value("species")
    expect(page.locator("#name")).to_have_value("failed-one")
    expect(page.get_by_test_id("advanced")).to_have_attribute("open", "")
    expect(page.locator("#param_n_estimators")).to_have_value("40")
    expect(page.locator("#param_learning_rate")).to_have_value("0.05")
    expect(page.locator("#test_size")).to_have_value("0.25")
    expect(page.locator("#seed")).to_have_value("11")
    expect(_row(page, "sex").get_by_test_id("use-column")).not_to_be_checked()
    expect(_row(page, "year").get_by_test_id("column-kind")).to_have_value("categorical")

    page.goto(base)
    item = page.get_by_test_id("jobs-list").locator("li", has_text="failed-one")
    expect(item).to_have_count(1)
    item.get_by_test_id("remove-job").click()
    expect(page.get_by_test_id("flash")).to_contain_text("removed from the list")
    expect(page.get_by_test_id("jobs-list").locator("li", has_text="failed-one")).to_have_count(0)
    assert failed["id"] not in {job["id"] for job in jobs.list()}


def test_the_picker_filters_and_the_content_decides_the_format(training_server, page, tmp_path):
    base = training_server.url
    page.goto(f"{base}/train")
    accept = page.locator("#file").get_attribute("accept")
    assert set(accept.split(",")) == {".csv", ".tsv", ".txt", ".parquet", ".pq", ".json",
                                      ".jsonl", ".ndjson"}  # fmt: skip
    rows = palmerpenguins.load_penguins().head(80)
    exported = tmp_path / "export.dat"
    rows.to_csv(exported, index=False)
    first = _upload(page, base, exported)
    expect(page.get_by_test_id("dataset-name")).to_have_text("export.dat")
    expect(page.get_by_test_id("dataset-rows")).to_have_text("80")

    renamed = tmp_path / "penguins-sample.csv"
    renamed.write_bytes(exported.read_bytes())
    assert _upload(page, base, renamed) == first
    expect(page.get_by_test_id("flash")).to_contain_text("Stored penguins-sample.csv: 80 rows")
    expect(page.get_by_test_id("dataset-name")).to_have_text("penguins-sample.csv")
    expect(page.locator("#name")).to_have_value("penguins-sample")
    page.goto(base)
    expect(page.get_by_role("link", name="penguins-sample.csv")).to_be_visible()
    assert not pd.read_csv(renamed).empty
