"""The train form's search choice: Try again keeps it, a custom search needs its seconds."""

from __future__ import annotations

import re

import palmerpenguins
import pytest

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_bytes
from dsba.jobs.job_store import JobStore, utc_now
from webapp import create_app


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(registry_dir=tmp_path_factory.mktemp("search-pages"), train_threads=1)


@pytest.fixture(scope="module")
def dataset_id(settings: Settings) -> str:
    raw = palmerpenguins.load_penguins().to_csv(index=False).encode()
    store = DatasetStore(settings.registry_dir)
    return store.save(read_bytes(raw, source="upload:p.csv"), "p.csv")["id"]


@pytest.fixture(scope="module")
def client(settings: Settings):
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    return app.test_client()


def _selected(html: str, name: str) -> str | None:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    chosen = re.search(r'<option selected value="([^"]*)"', select[1])
    return chosen and chosen[1]


def _value(html: str, name: str) -> str | None:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    return found and found[1]


def test_try_again_keeps_the_search_its_trials_and_metric(client, settings, dataset_id):
    jobs = JobStore(settings)
    request = {"dataset_id": dataset_id, "name": "again", "target": "body_mass_g",
               "task": "regression", "params": {}, "time_budget": 45, "trials": 7,
               "optimize": "mae"}  # fmt: skip
    job = jobs.create(request)
    jobs.write({**job, "state": "failed", "error": "boom", "finished_at": utc_now()})

    html = client.get(f"/datasets/{dataset_id}?job={job['id']}").get_data(as_text=True)
    assert _selected(html, "search") == "custom" and _value(html, "search_seconds") == "45"
    assert _value(html, "trials") == "7" and _selected(html, "optimize") == "mae"
    assert re.search(r'data-testid="advanced" open', html), "trials show, in the settings"

    jobs.write({**jobs.get(job["id"]), "request": {**request, "time_budget": 60}})
    html = client.get(f"/datasets/{dataset_id}?job={job['id']}").get_data(as_text=True)
    assert _selected(html, "search") == "60"  # a preset is chosen as itself


def test_a_custom_search_without_seconds_is_refused_beside_the_box(client, settings, dataset_id):
    form = {"target": "species", "name": "custom", "test_size": "0.2", "seed": "42",
            "search": "custom", "search_seconds": "", "optimize": "accuracy"}  # fmt: skip
    before = len(JobStore(settings).list())
    response = client.post(f"/datasets/{dataset_id}", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'name="search_seconds"[^>]*>\s*<span[^>]*>seconds</span>\s*'
                     r'<div class="invalid-feedback">give the seconds to search', html)  # fmt: skip
    assert len(JobStore(settings).list()) == before
