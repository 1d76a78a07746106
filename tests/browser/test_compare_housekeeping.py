"""Comparing versions and cleaning up in Chromium against the real gunicorn.

The store holds penguins-sex (binary: female/male), trained three ways: v2 drops
bill_depth_mm, reads year as text and grows deeper trees than v1, so every part of the
comparison has something to show.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import palmerpenguins
import pytest
import requests
from playwright.sync_api import Page, expect

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_bytes
from dsba.jobs.job_store import JobStore
from dsba.service import LocalService

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
NO_DUPLICATE_IDS = """() => {
    const ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
    return ids.filter((id, i) => ids.indexOf(id) !== i);
}"""

pytestmark = pytest.mark.usefixtures("no_csp_violations")


def _train(service: LocalService, frame, name: str, **options) -> None:
    raw = frame.to_csv(index=False).encode()
    dataset = read_bytes(raw, source=f"{name}.csv", filename=f"{name}.csv")
    service.train(dataset, target="sex", name=name, **options)


@pytest.fixture(scope="module")
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """gunicorn over a store holding penguins-sex v1, v2 and doomed v1."""
    workdir = tmp_path_factory.mktemp("housekeeping")
    registry = workdir / "registry"
    service = LocalService(Settings(registry_dir=registry, train_threads=1))
    frame = palmerpenguins.load_penguins().dropna(subset=["sex"])
    _train(service, frame, "penguins-sex", params={"n_estimators": 30, "max_depth": 2})
    changed = frame.drop(columns=["bill_depth_mm"]).assign(year="y" + frame["year"].astype(str))
    _train(service, changed, "penguins-sex", params={"n_estimators": 30, "max_depth": 5}, seed=7)
    _train(service, frame, "doomed", params={"n_estimators": 5})
    plugin = request.config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    with plugin.run_gunicorn(workdir, DSBA_TRAIN_THREADS="1") as server:
        yield server


@pytest.fixture
def http() -> requests.Session:
    """A requests session that ignores proxies from the shell."""
    session = requests.Session()
    session.trust_env = False
    return session


def test_compare_two_versions_from_the_model_page(live_server, page: Page, screenshot):
    page.goto(f"{live_server.url}/models/penguins-sex")
    assert page.evaluate(NO_DUPLICATE_IDS) == []
    expect(page.get_by_test_id("label-roc_auc")).to_have_text("ROC AUC (male)")
    expect(page.get_by_test_id("change-accuracy")).to_contain_text("vs v1")
    expect(page.get_by_test_id("compare-v2")).to_be_checked()
    expect(page.get_by_test_id("compare-v1")).to_be_checked()
    screenshot(page, "model-changes")

    page.get_by_test_id("compare-selected").click()

    expect(page).to_have_url(f"{live_server.url}/models/penguins-sex/compare?versions=2&versions=1")
    metrics = page.get_by_test_id("compare-metrics")
    expect(metrics.locator("tr[data-metric='roc_auc'] th")).to_contain_text("ROC AUC (male)")
    expect(metrics.locator("tr[data-metric='accuracy'] td")).to_have_count(2)
    params = page.get_by_test_id("compare-params")
    expect(params.locator("tr[data-param='max_depth']")).to_have_class("table-warning differs")
    expect(params.locator("tr[data-param='max_depth'] td")).to_have_text(["2", "5"])
    expect(params.locator("tr[data-param='target']")).not_to_have_class("table-warning differs")
    changes = page.get_by_test_id("compare-schema-changes")
    expect(changes).to_contain_text("dropped bill_depth_mm")
    expect(changes).to_contain_text("year numeric → categorical")
    expect(page.get_by_test_id("compare-data")).to_contain_text("other data")
    path = screenshot(page, "compare")
    assert path.stat().st_size > 10_000
    page.set_viewport_size({"width": 390, "height": 844})
    # On a phone the tables scroll sideways inside their cards; the page itself does not.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "compare-phone")


def test_the_alias_form_refuses_next_to_the_field_and_an_alias_is_removed(live_server, page: Page):
    page.goto(f"{live_server.url}/models/penguins-sex")
    form = page.get_by_test_id("alias-form")
    field = form.get_by_label("Alias")
    assert field.get_attribute("placeholder") is None
    field.fill("Not OK")
    form.get_by_role("button").click()

    error = page.get_by_test_id("alias-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("lowercase letters")
    expect(field).to_have_value("Not OK")
    expect(page.get_by_test_id("flash")).to_have_count(0)
    field_box, error_box = field.bounding_box(), error.bounding_box()
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 20, "not beside the field"
    assert page.evaluate(NO_DUPLICATE_IDS) == []

    field.fill("staging")
    form.get_by_label("Version").select_option("1")
    form.get_by_role("button").click()
    expect(page.get_by_test_id("alias-staging")).to_contain_text("v1")
    page.get_by_test_id("remove-alias-staging").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Removed penguins-sex@staging")
    expect(page.get_by_test_id("alias-staging")).to_have_count(0)


def test_a_version_downloads_as_a_zip(live_server, page: Page):
    page.goto(f"{live_server.url}/models/penguins-sex?version=1")
    with page.expect_download() as info:
        page.get_by_test_id("download-version").click()
    download = info.value
    assert download.suggested_filename == "penguins-sex-v1.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    folder = live_server.registry_dir / "models" / "penguins-sex" / "1"
    for name in ("model.ubj", "schema.json", "metadata.json"):
        assert archive.read(f"penguins-sex-v1/{name}") == (folder / name).read_bytes()


def test_a_finished_job_links_the_version_it_produced(live_server, page: Page, http):
    raw = palmerpenguins.load_penguins().to_csv(index=False).encode()
    uploaded = http.post(
        f"{live_server.url}/api/datasets", files={"file": ("p.csv", raw)}, timeout=60
    )
    body = {"dataset_id": uploaded.json()["id"], "target": "sex", "name": "penguins-sex"}
    job = http.post(f"{live_server.url}/api/train", json=body, timeout=60).json()
    deadline = time.monotonic() + 180
    while (state := http.get(f"{live_server.url}/api/jobs/{job['id']}", timeout=10).json())[
        "state"
    ] != "succeeded":
        assert state["state"] in ("queued", "running") and time.monotonic() < deadline, state
        time.sleep(0.3)

    page.goto(f"{live_server.url}/")
    link = page.get_by_test_id("job-version").first
    expect(link).to_have_text("→ v3")
    link.click()
    expect(page.get_by_test_id("model-version")).to_have_text("v3")
    expect(page.get_by_test_id("change-accuracy")).to_contain_text("vs v2")


def test_a_dataset_in_use_is_kept_then_deleted(live_server, page: Page):
    settings = Settings(registry_dir=live_server.registry_dir)
    raw = palmerpenguins.load_penguins().head(200).to_csv(index=False).encode()
    stored = DatasetStore(live_server.registry_dir).save(
        read_bytes(raw, source="few.csv", filename="few.csv"), "few.csv"
    )
    # A queued job on it, as the web app writes one before its runner starts.
    job = JobStore(settings).create({"dataset_id": stored["id"], "name": "few", "params": {}})

    page.goto(f"{live_server.url}/datasets/{stored['id']}")
    page.get_by_test_id("delete-dataset").click()
    expect(page.get_by_test_id("dataset-in-use")).to_contain_text("few")
    expect(page.get_by_test_id("confirm-delete-dataset")).to_be_disabled()

    JobStore(settings).write({**job, "state": "failed"})
    page.reload()
    page.get_by_test_id("confirm-delete-dataset").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Deleted the dataset few.csv")
    page.goto(f"{live_server.url}/datasets/{stored['id']}")
    expect(page.locator("h1")).to_contain_text("could not find")


def test_a_model_is_deleted_after_a_confirmation_naming_its_aliases(live_server, page: Page, http):
    http.put(f"{live_server.url}/api/models/doomed/aliases/production", json={"version": 1})
    page.goto(f"{live_server.url}/models/doomed")
    page.get_by_test_id("delete-model").click()
    body = page.get_by_test_id("delete-model-body")
    expect(body).to_be_visible()
    expect(body).to_contain_text("doomed@production")
    page.get_by_test_id("confirm-delete-model").click()

    expect(page.get_by_test_id("flash")).to_contain_text("Deleted the model doomed (1 version)")
    expect(page.get_by_test_id("models-table")).not_to_contain_text("doomed")
    assert http.get(f"{live_server.url}/api/models/doomed/versions", timeout=10).status_code == 404
