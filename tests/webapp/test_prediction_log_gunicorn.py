"""The prediction log under the real gunicorn: several workers, kill -9, a read-only store."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from datetime import UTC, datetime

import palmerpenguins
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
from readonly import make_read_only, make_writable

from dsba.config import Settings
from dsba.monitoring import layout
from dsba.monitoring.ids import id_time
from dsba.service import LocalService

# A row may wait one flush interval in the buffer, plus the write: allow a little over that.
LOSS_WINDOW_SECONDS = 2.5
DROPPED = re.compile(r"^dsba_prediction_log_dropped_total ([0-9.e+]+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory):
    """A registry holding penguins:1, to copy per server."""
    root = tmp_path_factory.mktemp("logserve")
    palmerpenguins.load_penguins().to_csv(root / "penguins.csv", index=False)
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    LocalService(settings).train(
        str(root / "penguins.csv"), target="species", name="penguins", params={"n_estimators": 10}
    )
    return settings.registry_dir


@pytest.fixture
def registry(trained_store, tmp_path):
    """A private copy of the trained store."""
    return shutil.copytree(trained_store, tmp_path / "registry")


def _records(count: int, start: int = 0) -> list[dict]:
    frame = palmerpenguins.load_penguins().drop(columns="species").iloc[start : start + count]
    return [
        {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]


def _logged(root) -> pd.DataFrame:
    folder = layout.log_dir(root, "penguins", 1)
    files = [f for day in sorted(folder.glob("*")) for f in layout.live_files(day)]
    frames = [pq.read_table(f).to_pandas().assign(file=f.name) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", "file"])


class Load:
    """Client threads posting predictions until stopped; the ids answered with 200."""

    def __init__(self, url: str, threads: int, requests_each: int | None = None) -> None:
        self.url, self.requests_each = url, requests_each
        self.answered: list[str] = []
        self.failures = 0
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self, seed: int) -> None:
        try:
            self._post_until_stopped(seed)
        except BaseException as exc:  # noqa: BLE001 - reported by join() on the test's thread
            self.errors.append(exc)

    def _post_until_stopped(self, seed: int) -> None:
        with requests.Session() as session:
            session.trust_env = False
            sent = 0
            while not self.stopping.is_set() and sent != self.requests_each:
                body = {"model": "penguins", "records": _records(1 + sent % 3, seed * 7 + sent)}
                sent += 1
                try:
                    answer = session.post(f"{self.url}/api/predict", json=body, timeout=10)
                except requests.RequestException:
                    self.failures += 1  # the request the killed worker was serving
                    continue
                assert answer.status_code == 200, answer.text
                self.answered += [p["id"] for p in answer.json()["predictions"]]

    def join(self) -> list[str]:
        """Stop (or let finish, with requests_each) the client threads; return the ids answered."""
        if self.requests_each is None:
            self.stopping.set()
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]
        return self.answered


def test_workers_write_their_own_files_and_lose_no_row_on_a_clean_stop(start_gunicorn, registry):
    server = start_gunicorn(DSBA_REGISTRY_DIR=str(registry), WEB_CONCURRENCY="3")
    answered = Load(server.url, threads=6, requests_each=25).join()
    server.stop()

    assert server.proc.returncode == 0, server.stderr()
    logged = _logged(registry)
    assert len(answered) == 6 * sum(1 + sent % 3 for sent in range(25))
    assert sorted(logged["id"]) == sorted(answered)  # none lost, none twice
    writers = {name.rsplit("-", 1)[0] for name in logged["file"]}
    assert len(writers) >= 2  # several workers wrote, each to its own files
    assert set(logged["source"]) == {"api"}


def test_kill_9_of_a_worker_under_load_loses_at_most_its_last_second(start_gunicorn, registry):
    server = start_gunicorn(DSBA_REGISTRY_DIR=str(registry), WEB_CONCURRENCY="2")
    load = Load(server.url, threads=4)
    time.sleep(3.0)
    victim = server.worker_pids()[0]
    killed_at = datetime.now(UTC).timestamp()
    os.kill(victim, signal.SIGKILL)
    time.sleep(2.0)
    answered = load.join()
    server.stop()

    logged = set(_logged(registry)["id"])
    lost = [i for i in answered if i not in logged]
    assert len(answered) > 100 and logged <= set(answered)
    assert all(id_time(i).timestamp() >= killed_at - LOSS_WINDOW_SECONDS for i in lost), sorted(
        killed_at - id_time(i).timestamp() for i in lost
    )[-5:]
    assert len({i[10:22] for i in lost}) <= 1  # all from one process: the one killed


def _dropped(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    match = DROPPED.search(text)
    return float(match.group(1)) if match else 0.0


def test_a_read_only_store_answers_every_prediction_and_counts_the_dropped_rows(
    start_gunicorn, registry
):
    monitoring = registry / layout.MONITORING_DIR
    monitoring.mkdir()
    make_read_only(monitoring)
    try:
        server = start_gunicorn(DSBA_REGISTRY_DIR=str(registry), WEB_CONCURRENCY="1")
        session = requests.Session()
        session.trust_env = False
        answers, deadline = [], time.monotonic() + 30
        while _dropped(server.url) < 3 and time.monotonic() < deadline:
            answers.append(
                session.post(
                    f"{server.url}/api/predict",
                    json={"model": "penguins", "records": _records(1)},
                    timeout=10,
                )
            )
            time.sleep(0.2)
        after = session.post(
            f"{server.url}/api/predict", json={"model": "penguins", "records": _records(2)}
        )
    finally:
        make_writable(monitoring)

    assert all(a.status_code == 200 for a in [*answers, after])
    assert _dropped(server.url) >= 3
    assert all("id" not in p for p in after.json()["predictions"])  # not logged: no id
    assert "prediction log rows dropped" in server.stdout_path.read_text()
    assert list(monitoring.iterdir()) == []
