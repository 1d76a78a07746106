"""The dataset page's train form: start from an earlier training, column controls, refusals."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import palmerpenguins
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_bytes
from dsba.jobs.job_store import JobStore, utc_now
from dsba.service import LocalService
from webapp import create_app

COLUMNS = ["penguin_ref", "species", "island", "bill_length_mm", "bill_depth_mm",
           "flipper_length_mm", "body_mass_g", "sex", "year", "colony", "observer"]  # fmt: skip


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(registry_dir=tmp_path_factory.mktemp("train-form"), train_threads=1)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """penguins with an id, a constant and a many-valued text column."""
    frame = palmerpenguins.load_penguins()
    frame.insert(0, "penguin_ref", [f"P{i:04d}" for i in range(len(frame))])
    frame["colony"] = "antarctica"
    frame["observer"] = [f"observer-{i % 120}" for i in range(len(frame))]
    assert list(frame.columns) == COLUMNS
    return frame


@pytest.fixture(scope="module")
def dataset_id(settings: Settings, table: pd.DataFrame) -> str:
    raw = table.to_csv(index=False).encode()
    info = DatasetStore(settings.registry_dir).save(read_bytes(raw, source="upload:t.csv"), "t.csv")
    return info["id"]


@pytest.fixture(scope="module")
def trained(settings: Settings, dataset_id: str) -> str:
    """chosen:1, trained with settings and column choices that are not the defaults."""
    dataset = DatasetStore(settings.registry_dir).load(dataset_id)
    LocalService(settings).train(
        dataset,
        target="species",
        name="chosen",
        params={"n_estimators": 12, "max_depth": 3},
        test_size=0.3,
        seed=5,
        exclude=["island"],
        kinds={"year": "categorical"},
    )
    return "chosen:1"


@pytest.fixture(scope="module")
def app(settings: Settings):
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    return app.test_client()


def _html(response) -> str:
    return response.get_data(as_text=True)


def _input(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    return match[0]


def _selected(html: str, name: str) -> str | None:
    select = re.search(rf'<select[^>]*name="{name}".*?</select>', html, re.S)
    assert select, f"no select {name}"
    chosen = re.search(
        r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select[0]
    )
    return (chosen[1] or chosen[2]) if chosen else None


def _assert_started_from(html: str, name: str) -> None:
    assert _selected(html, "target") == "species"
    assert f'value="{name}"' in _input(html, "name")
    assert 'value="3"' in _input(html, "param_max_depth")
    assert 'value="12"' in _input(html, "param_n_estimators")
    assert 'value="0.3"' in _input(html, "test_size") and 'value="5"' in _input(html, "seed")
    assert re.search(r'data-testid="advanced" open', html), "the settings are open"
    island, year = COLUMNS.index("island"), COLUMNS.index("year")
    assert "checked" not in _input(html, f"use_{island}")
    assert "checked" in _input(html, f"use_{COLUMNS.index('sex')}")
    assert _selected(html, f"kind_{year}") == "categorical"


def test_retrain_starts_from_the_version(client, dataset_id, trained):
    page = client.get("/models/chosen?version=1")
    link = re.search(r'href="([^"]+)" data-testid="retrain-link"', _html(page))
    assert link and link[1] == f"/datasets/{dataset_id}?from=chosen:1"

    _assert_started_from(_html(client.get(link[1])), "chosen")


def test_try_again_starts_from_the_failed_job(client, settings, dataset_id):
    jobs = JobStore(settings)
    request = {
        "dataset_id": dataset_id,
        "name": "again",
        "target": "species",
        "params": {"n_estimators": 12, "max_depth": 3},
        "test_size": 0.3,
        "seed": 5,
        "exclude": ["island"],
        "kinds": {"year": "categorical"},
    }
    job = jobs.create(request)
    jobs.write({**job, "state": "failed", "error": "boom", "finished_at": utc_now()})
    job_page = _html(client.get(f"/jobs/{job['id']}"))
    link = re.search(r'href="([^"]+)" data-testid="try-again"', job_page)
    assert link and link[1] == f"/datasets/{dataset_id}?job={job['id']}"

    _assert_started_from(_html(client.get(link[1])), "again")


def test_a_fresh_dataset_page_keeps_the_settings_closed_and_every_usable_column(client, dataset_id):
    html = _html(client.get(f"/datasets/{dataset_id}"))
    assert _selected(html, "target") is None
    assert not re.search(r'data-testid="advanced" open', html)
    ticked = {name for i, name in enumerate(COLUMNS) if "checked" in _input(html, f"use_{i}")}
    assert ticked == set(COLUMNS) - {"penguin_ref", "colony"}
    assert _selected(html, f"kind_{COLUMNS.index('year')}") == "numeric"


def test_the_profile_marks_columns_and_keeps_them_out_of_the_target_choices(client, dataset_id):
    html = _html(client.get(f"/datasets/{dataset_id}"))
    notes = re.findall(r'data-testid="column-note">([^<]*)<', html)
    assert notes == [
        "Left out: ID-like: a different value on every row",
        "Left out: constant: a single value",
        "high cardinality: 120 categories, each seen rarely; consider leaving it out",
    ]
    assert re.search(r'<option disabled value="penguin_ref">penguin_ref — cannot be the target '
                     r"\(ID-like", html)  # fmt: skip
    assert '<option value="species">species</option>' in html


def test_a_form_error_keeps_the_settings_open_with_their_values(client, settings, dataset_id):
    before = len(JobStore(settings).list())
    response = client.post(
        f"/datasets/{dataset_id}",
        data={
            "target": "species",
            "name": "Bad Name",
            "test_size": "0.3",
            "seed": "9",
            "param_max_depth": "4",
            "column_controls": "1",
        },
    )
    assert response.status_code == 400
    html = _html(response)
    assert re.search(r'data-testid="advanced" open', html)
    assert 'value="4"' in _input(html, "param_max_depth") and 'value="9"' in _input(html, "seed")
    assert len(JobStore(settings).list()) == before


def _post_columns(client, dataset_id: str, name: str, **kinds: str):
    """Post the form with island unticked and the other columns ticked, kinds as given."""
    data = {"target": "species", "name": name, "test_size": "0.2", "seed": "1",
            "param_n_estimators": "10", "column_controls": "1"}  # fmt: skip
    for index, column in enumerate(COLUMNS):
        if column != "island":
            data[f"use_{index}"] = "y"
        data[f"kind_{index}"] = kinds.get(column, "")
    return client.post(f"/datasets/{dataset_id}", data=data)


def _inferred(client, dataset_id: str) -> dict[str, str]:
    html = _html(client.get(f"/datasets/{dataset_id}"))
    return {name: _selected(html, f"kind_{i}") for i, name in enumerate(COLUMNS)}


def test_the_column_controls_reach_the_job_and_the_model(client, settings, dataset_id):
    inferred = _inferred(client, dataset_id)
    response = _post_columns(
        client, dataset_id, "columns", **{**inferred, "year": "categorical", "sex": "ignore"}
    )
    assert response.status_code == 302, _html(response)
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = JobStore(settings).get(job_id)
    # Unticked island is left out; the ID-like and constant columns go with their reasons.
    assert job["request"]["exclude"] == ["island"]
    assert job["request"]["kinds"] == {"year": "categorical", "sex": "ignore"}
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = JobStore(settings).get(job_id)
    assert job["state"] == "succeeded", job
    schema = LocalService(settings).registry.get_schema(job["model"])
    kinds = {f["name"]: f["kind"] for f in schema["features"]}
    assert "island" not in kinds and "sex" not in kinds and kinds["year"] == "categorical"
    dropped = {d["column"]: d["reason"] for d in schema["dropped"]}
    assert dropped["penguin_ref"].startswith("ID-like") and dropped["colony"].startswith("const")


def test_a_kind_the_values_do_not_fit_is_refused_next_to_its_column(client, settings, dataset_id):
    before = len(JobStore(settings).list())
    inferred = _inferred(client, dataset_id)
    response = _post_columns(client, dataset_id, "bad-kind", **{**inferred, "sex": "numeric"})
    assert response.status_code == 400
    html = _html(response)
    row = re.search(r'<tr data-column="sex".*?</tr>', html, re.S)[0]
    error = re.search(r'data-testid="column-error">([^<]*)<', row)
    assert (
        error
        and error[1] == "kinds: column &#39;sex&#39; must be numeric; row 0 has &#39;male&#39;"
    )
    assert len(JobStore(settings).list()) == before


def test_a_target_dsba_refuses_is_refused_next_to_the_field(client, settings):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "label": ["a"] * 39 + ["b"]})
    raw = frame.to_csv(index=False).encode()
    info = DatasetStore(settings.registry_dir).save(read_bytes(raw, source="upload:r.csv"), "r.csv")
    before = len(JobStore(settings).list())
    response = client.post(
        f"/datasets/{info['id']}",
        data={"target": "label", "name": "rare", "test_size": "0.2", "seed": "1"},
    )
    assert response.status_code == 400
    target = re.search(r'id="target".*?invalid-feedback">([^<]*)<', _html(response), re.S)
    assert target and "classes [&#39;b&#39;] have a single row" in target[1]
    assert len(JobStore(settings).list()) == before


def test_finished_jobs_can_be_removed_from_the_list_active_ones_not(client, settings):
    jobs = JobStore(settings)
    failed = jobs.create({"dataset_id": "0123456789abcdef", "name": "gone", "target": "y"})
    jobs.write({**failed, "state": "failed", "error": "boom"})
    running = jobs.create({"dataset_id": "0123456789abcdef", "name": "busy", "target": "y"})
    jobs.write({**running, "state": "running", "host": "elsewhere", "pid": 1,
                "heartbeat_at": utc_now()})  # fmt: skip
    home = _html(client.get("/"))
    assert f'action="/jobs/{failed["id"]}/delete"' in home
    assert f'action="/jobs/{running["id"]}/delete"' not in home

    refused = client.post(f"/jobs/{running['id']}/delete", follow_redirects=True)
    assert "Not removed: job" in _html(refused) and "cancel it first" in _html(refused)
    removed = client.post(f"/jobs/{failed['id']}/delete")
    assert removed.status_code == 302 and removed.headers["Location"] == "/"
    assert {job["id"] for job in jobs.list()} >= {running["id"]}
    assert failed["id"] not in {job["id"] for job in jobs.list()}


def test_the_file_picker_filters_and_the_content_decides(client, settings, table):
    html = _html(client.get("/train"))
    assert 'accept=".csv,.json,.jsonl,.ndjson,.parquet,.pq,.tsv,.txt"' in _input(html, "file")
    raw = table.head(60).to_csv(index=False).encode()
    first = client.post("/train", data={"file": (io.BytesIO(raw), "export.dat")})
    assert first.status_code == 302, _html(first)
    again = client.post(
        "/train", data={"file": (io.BytesIO(raw), "renamed.csv")}, follow_redirects=True
    )
    assert again.request.path == first.headers["Location"]
    page = _html(again)
    assert "Stored renamed.csv: 60 rows" in page
    assert re.search(r'data-testid="dataset-name">renamed.csv<', page)
