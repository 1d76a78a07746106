"""The job store's limit on active jobs holds when many requests arrive at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from dsba.config import Settings
from dsba.errors import Conflict
from dsba.jobs.job_store import ACTIVE, FAILED, JobStore


def test_jobs_created_at_once_never_exceed_the_limit(tmp_path):
    settings = Settings(registry_dir=tmp_path, max_jobs=2)
    stores = [JobStore(settings) for _ in range(8)]  # as if in 8 web workers
    start = threading.Barrier(len(stores))

    def create(store: JobStore) -> bool:
        start.wait()
        try:
            store.create({"name": "m", "target": "y"})
        except Conflict:
            return False
        return True

    for _ in range(5):
        with ThreadPoolExecutor(len(stores)) as pool:
            created = sum(pool.map(create, stores))
        active = [job for job in stores[0].list(limit=None) if job["state"] in ACTIVE]
        assert 1 <= created <= 2 and len(active) == created
        for job in active:  # finish them for the next round
            stores[0].write({**job, "state": FAILED})


def test_a_refused_job_leaves_no_record(tmp_path):
    store = JobStore(Settings(registry_dir=tmp_path, max_jobs=1))
    store.create({"name": "m", "target": "y"})
    try:
        store.create({"name": "m", "target": "y"})
    except Conflict as exc:
        assert "1 training jobs are already running (limit 1)" in str(exc)
    else:
        raise AssertionError("the second job was accepted")
    assert len(store.list(limit=None)) == 1


def test_a_new_job_prunes_finished_records_beyond_the_history(tmp_path):
    store = JobStore(Settings(registry_dir=tmp_path, max_jobs=1, job_history=2))
    finished = []
    for _ in range(4):
        time.sleep(0.01)  # creation times are in milliseconds: keep them apart
        job = store.create({"name": "m", "target": "y"})
        store.write({**job, "state": FAILED})
        finished.append(job["id"])
    # Each create keeps the two newest finished records: the fourth deleted the first.
    assert [job["id"] for job in store.list(limit=None)] == finished[:0:-1]
