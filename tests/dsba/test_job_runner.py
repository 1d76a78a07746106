"""Training job processes: a lost write, a timeout, a cancel, and a reaper racing the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

import dsba.store.atomic
from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_source
from dsba.errors import Conflict
from dsba.jobrunner import JobReporter
from dsba.jobs.job_store import ACTIVE, CANCELLED, FAILED, SUCCEEDED, JobStore, start_job
from dsba.registry.model_registry import ModelRegistry

# Boosting on pure noise with patient early stopping: minutes of rounds unless stopped.
SLOW = {"n_estimators": 5000, "early_stopping_rounds": 1000, "max_depth": 8}
# Fails the first record write of the heartbeat thread and of the training thread after
# the runner marked the job running: a share that refuses one write (as a PermissionError
# on SMB does), then recovers.
FLAKY_RUNNER = """
import os, sys, threading
real_replace = os.replace
failed = set()

def flaky_replace(src, dst, *args, **kwargs):
    if str(dst).endswith(sys.argv[1] + ".json"):
        writer = threading.current_thread().name
        if flaky_replace.started and writer not in failed:
            failed.add(writer)
            raise PermissionError(13, "Permission denied (injected)", str(dst))
        flaky_replace.started = True
    return real_replace(src, dst, *args, **kwargs)

flaky_replace.started = False
os.replace = flaky_replace
from dsba.jobrunner import main
main()
"""


def _noise(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
    frame["label"] = rng.choice(["a", "b"], size=rows)
    return frame


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A store the job processes share with the test; fast heartbeats."""
    monkeypatch.setenv("DSBA_TRAIN_THREADS", "1")
    monkeypatch.setenv("DSBA_JOB_HEARTBEAT", "0.2")
    monkeypatch.setenv("DSBA_LOG_FORMAT", "text")
    return Settings(registry_dir=tmp_path / "registry", max_jobs=1, job_heartbeat_seconds=0.2)


def _request(settings: Settings, tmp_path: Path, rows: int, params: dict) -> dict:
    path = tmp_path / "noise.csv"
    _noise(rows).to_csv(path, index=False)
    info = DatasetStore(settings.registry_dir).save(read_source(str(path)))
    return {"dataset_id": info["id"], "target": "label", "name": "noise", "params": params}


def _wait(store: JobStore, job_id: str, done: Callable[[dict], bool], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def _boosting(job: dict) -> bool:
    return job["state"] not in ACTIVE or job["progress"]["round"] > 0


def _finished(job: dict) -> bool:
    return job["state"] not in ACTIVE


def _versions(settings: Settings) -> list[dict]:
    return ModelRegistry(settings.registry_dir).list_models()


def _runner_gone(pid: int, timeout: float = 30) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


def test_the_heartbeat_outlives_a_failed_write(tmp_path, monkeypatch):
    settings = Settings(registry_dir=tmp_path)
    store = JobStore(settings)
    job = store.create({"name": "m", "target": "y"})
    real_replace = os.replace
    failures = []

    def replace_failing_once(src, dst):
        if threading.current_thread() is not threading.main_thread() and not failures:
            failures.append(time.monotonic())
            raise PermissionError(13, "Permission denied (injected)", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(dsba.store.atomic.os, "replace", replace_failing_once)
    reporter = JobReporter(store, job, Settings(registry_dir=tmp_path, job_heartbeat_seconds=0.05))
    reporter.start()
    before = store.get(job["id"])["heartbeat_at"]
    deadline = time.monotonic() + 30
    while store.get(job["id"])["heartbeat_at"] == before or not failures:
        assert time.monotonic() < deadline, "no heartbeat after the failed write"
        time.sleep(0.05)
    after_failure = store.get(job["id"])["heartbeat_at"]
    time.sleep(0.5)

    assert failures, "the injected failure never happened"
    assert reporter.thread.is_alive()
    assert store.get(job["id"])["heartbeat_at"] > after_failure
    reporter.finish(state=SUCCEEDED)


def test_a_job_survives_failed_record_writes_and_no_other_host_fails_it(
    settings, tmp_path, monkeypatch
):
    store = JobStore(settings)
    # Every round runs (no early stop on noise): a few seconds of heartbeats and progress.
    params = {"n_estimators": 600, "early_stopping_rounds": 600, "max_depth": 6}
    job = store.create(_request(settings, tmp_path, 4_000, params))
    runner = subprocess.Popen(
        [sys.executable, "-c", FLAKY_RUNNER, job["id"]],
        env={**os.environ, "DSBA_REGISTRY_DIR": str(settings.registry_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait(store, job["id"], lambda job: job["state"] != "queued")
    # A replica on another host judges the job by its heartbeat alone: 1.5 s of silence
    # (over seven missed beats) is death to it.
    monkeypatch.setattr(socket, "gethostname", lambda: "another-replica")
    remote = JobStore(Settings(registry_dir=settings.registry_dir, job_stale_seconds=1.5))
    seen = []
    while runner.poll() is None:
        seen.append(remote.get(job["id"])["state"])
        time.sleep(0.1)
    output = runner.communicate()[0]

    assert runner.returncode == 0, output
    assert "job record write failed" in output, output
    assert FAILED not in seen
    final = remote.get(job["id"])
    assert final["state"] == SUCCEEDED, final
    assert final["model"] == "noise:1"


def test_the_reaper_does_not_fail_a_job_that_succeeded_while_it_looked(settings, tmp_path):
    store = JobStore(settings)
    job = start_job(settings, _request(settings, tmp_path, 400, {"n_estimators": 20}))
    running = _wait(store, job["id"], lambda job: job.get("pid") is not None)
    # A reader that read the record while the job ran, then checks the process after the
    # runner wrote its final state and exited.
    assert _runner_gone(running["pid"])

    checked = store._reap(running)

    assert checked["state"] == SUCCEEDED, checked
    assert store.get(job["id"])["state"] == SUCCEEDED


def test_a_cancelled_job_stops_registers_nothing_and_frees_its_slot(settings, tmp_path):
    store = JobStore(settings)
    job = start_job(settings, _request(settings, tmp_path, 20_000, SLOW))
    running = _wait(store, job["id"], _boosting)
    assert running["state"] == "running", running
    with pytest.raises(Conflict):
        store.create({"name": "other", "target": "label"})  # DSBA_MAX_JOBS=1 is taken

    asked = store.cancel(job["id"])
    ended = _wait(store, job["id"], _finished, timeout=60)

    assert asked["cancel_requested"] is True and asked["state"] in ACTIVE
    assert ended["state"] == CANCELLED, ended
    assert ended["error"] == "cancelled on request"
    assert _runner_gone(running["pid"])
    assert _versions(settings) == []
    assert store.active() == []
    store.create({"name": "other", "target": "label"})  # the slot is free
    with pytest.raises(Conflict, match=r"has already ended \(cancelled\)"):
        store.cancel(job["id"])


def test_a_job_past_the_timeout_is_stopped_and_failed(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("DSBA_JOB_TIMEOUT", "1")
    store = JobStore(settings)
    job = start_job(settings, _request(settings, tmp_path, 20_000, SLOW))
    running = _wait(store, job["id"], lambda job: job.get("pid") is not None)

    ended = _wait(store, job["id"], _finished, timeout=60)

    assert ended["state"] == FAILED, ended
    assert "1 s limit (DSBA_JOB_TIMEOUT)" in ended["error"]
    assert ended["progress"]["round"] < SLOW["n_estimators"]
    assert _runner_gone(running["pid"])
    assert _versions(settings) == []
    assert store.active() == []


def test_the_local_cli_cancels_a_job_and_refuses_a_finished_one(settings, cli):
    store = JobStore(settings)
    job = store.create({"name": "m", "target": "y"})

    asked = cli(settings.registry_dir, "jobs", "cancel", job["id"])
    store.write({**store.get(job["id"]), "state": CANCELLED, "error": "cancelled on request"})
    refused = cli(settings.registry_dir, "jobs", "cancel", job["id"])
    listed = cli(settings.registry_dir, "--json", "jobs", "list")

    assert asked.exit_code == 0 and "cancel requested" in asked.output
    assert refused.exit_code == 5 and "has already ended (cancelled)" in refused.stderr
    assert [(j["id"], j["state"]) for j in json.loads(listed.output)] == [(job["id"], CANCELLED)]


# Reading the dataset takes a minute, as from a share that stalls: no boosting round comes
# to stop at, so the heartbeat must end the job itself.
STALLED_READ_RUNNER = """
import sys, time
import pandas as pd
real_read = pd.read_parquet

def stalled_read(*args, **kwargs):
    time.sleep(60)
    return real_read(*args, **kwargs)

pd.read_parquet = stalled_read
from dsba.jobrunner import main
main()
"""


def test_a_job_stuck_before_training_is_ended_by_its_timeout(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("DSBA_JOB_TIMEOUT", "1")
    store = JobStore(settings)
    job = store.create(_request(settings, tmp_path, 400, {"n_estimators": 20}))
    runner = subprocess.Popen(
        [sys.executable, "-c", STALLED_READ_RUNNER, job["id"]],
        env={**os.environ, "DSBA_REGISTRY_DIR": str(settings.registry_dir)},
        stdout=subprocess.DEVNULL,
    )

    assert runner.wait(timeout=45) == 3
    ended = store.get(job["id"])
    assert ended["state"] == FAILED and "DSBA_JOB_TIMEOUT" in ended["error"], ended
    assert ended["progress"]["round"] == 0
    assert _versions(settings) == []
    assert store.active() == []
