"""Listing the newest jobs and datasets opens only the records shown, however many are stored."""

from __future__ import annotations

import builtins
import json
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import Dataset
from dsba.errors import Conflict
from dsba.jobs.job_store import FAILED, RUNNING, SUCCEEDED, JobStore, utc_now
from dsba.store.atomic import sha256_bytes
from webapp import create_app

JOBS = 1_000
DATASETS = 30


class OpenCounter:
    """Counts files opened under a folder, by the folder they are in."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.opened: Counter[str] = Counter()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_open = builtins.open

        def counting_open(file, *args, **kwargs):
            path = str(file)
            if path.startswith(self.root) and path.endswith(".json"):
                self.opened[Path(path).parent.name] += 1
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", counting_open)

    def take(self) -> Counter[str]:
        opened, self.opened = self.opened, Counter()
        return opened


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 1,000 finished job records and 30 datasets, written by the real code."""
    root = tmp_path_factory.mktemp("big") / "registry"
    jobs = JobStore(Settings(registry_dir=root, job_history=10 * JOBS))
    for index in range(JOBS):
        job = jobs.create({"name": f"m{index}", "target": "y"})
        jobs.write({**job, "state": SUCCEEDED if index % 3 else FAILED})
    datasets = DatasetStore(root)
    for index in range(DATASETS):
        frame = pd.DataFrame({"x": range(index + 5), "y": ["a"] * (index + 5)})
        data = frame.to_csv(index=False).encode()
        datasets.save(Dataset(frame, sha256_bytes(data), f"d{index}.csv", "csv", len(data)))
    return root


@pytest.fixture
def opens(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> OpenCounter:
    counter = OpenCounter(store_root)
    counter.install(monkeypatch)
    return counter


def test_the_newest_jobs_are_listed_opening_only_their_records(store_root, opens):
    store = JobStore(Settings(registry_dir=store_root))

    newest = store.list(10)

    assert opens.take()["jobs"] == 10
    assert [job["request"]["name"] for job in newest] == [f"m{i}" for i in range(999, 989, -1)]
    assert len(store.list(limit=None)) == JOBS
    assert opens.take()["jobs"] == JOBS


def test_creating_a_job_opens_only_the_active_records(store_root, opens):
    store = JobStore(Settings(registry_dir=store_root, job_history=10 * JOBS))

    job = store.create({"name": "new", "target": "y"})
    store.write({**job, "state": FAILED})

    assert opens.take()["jobs"] <= 2  # the new record's own check; no other record
    assert store.count_by_state() == {"queued": 0, "running": 0}
    assert opens.take()["jobs"] == 0


def test_the_newest_datasets_are_listed_opening_only_their_profiles(store_root, opens):
    store = DatasetStore(store_root)
    everything = store.list()
    opens.take()

    newest = store.list(5)

    assert sum(opens.take().values()) == 5
    assert newest == everything[:5]
    assert [d["created_at"] for d in everything] == sorted(
        (d["created_at"] for d in everything), reverse=True
    )


def test_the_home_page_opens_ten_jobs_and_five_datasets(store_root, opens):
    settings = Settings(registry_dir=store_root)
    client = create_app({"DSBA_SETTINGS": settings, "TESTING": True}).test_client()

    response = client.get("/")

    assert response.status_code == 200
    opened = opens.take()
    assert opened["jobs"] == 10
    assert sum(n for folder, n in opened.items() if len(folder) == 16) == 5  # profiles
    assert response.get_data(as_text=True).count('href="/jobs/') == 10


def test_a_store_written_before_time_ordered_ids_still_lists_and_limits(tmp_path):
    settings = Settings(registry_dir=tmp_path, max_jobs=2)
    folder = tmp_path / "jobs"
    folder.mkdir()
    for name, state in (("old-done", SUCCEEDED), ("old-running", RUNNING)):
        job_id = uuid.uuid4().hex
        record = {
            "id": job_id,
            "state": state,
            "request": {"name": name},
            "progress": {"round": 0, "total": 1},
            "created_at": utc_now(),
            # Another container's job, alive by its heartbeat.
            "host": "another-container",
            "pid": 1,
            "heartbeat_at": utc_now(),
        }
        (folder / f"{job_id}.json").write_text(json.dumps(record))
        time.sleep(0.01)  # creation times are in milliseconds: keep them apart
    store = JobStore(settings)

    assert store.count_by_state() == {"queued": 0, "running": 1}
    store.create({"name": "new", "target": "y"})
    with pytest.raises(Conflict, match="2 training jobs are already running"):
        store.create({"name": "newer", "target": "y"})
    names = [job["request"]["name"] for job in store.list(10)]
    assert names == ["new", "old-running", "old-done"]


def test_datasets_stored_before_the_index_are_indexed_once(tmp_path, monkeypatch):
    store = DatasetStore(tmp_path)
    for index in range(8):
        frame = pd.DataFrame({"x": range(index + 5), "y": ["a"] * (index + 5)})
        data = frame.to_csv(index=False).encode()
        store.save(Dataset(frame, sha256_bytes(data), f"d{index}.csv", "csv", len(data)))
    everything = store.list()
    shutil.rmtree(store.index)  # as a store written before the index existed
    opens = OpenCounter(tmp_path)
    opens.install(monkeypatch)

    first = store.list(3)
    opened_first = sum(opens.take().values())
    second = store.list(3)

    assert first == second == everything[:3]
    assert opened_first == 8 + 3
    assert sum(opens.take().values()) == 3
