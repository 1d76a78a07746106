"""Training jobs on the real gunicorn: concurrency, a killed job, training from a URL."""

from __future__ import annotations

import functools
import http.server
import io
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import palmerpenguins
import pandas as pd
import psutil
import pytest
import requests
from click.testing import CliRunner

from dsba.cli import main

FAST = {"n_estimators": 20}


def session() -> requests.Session:
    """A session that never sends loopback traffic through a proxy from the environment."""
    client = requests.Session()
    client.trust_env = False
    return client


def upload(url: str, frame: pd.DataFrame, name: str) -> str:
    """Upload a frame as CSV; return the dataset id."""
    data = io.BytesIO(frame.to_csv(index=False).encode())
    response = session().post(f"{url}/api/datasets", files={"file": (name, data)}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def train(url: str, **body) -> requests.Response:
    """POST /api/train."""
    return session().post(f"{url}/api/train", json=body, timeout=60)


def wait_for(url: str, job_id: str, done, timeout: float = 120) -> dict:
    """Poll a job until done(job) holds; return the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = session().get(f"{url}/api/jobs/{job_id}", timeout=10).json()
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is {job['state']} after {timeout} s: {job}")


def finished(job: dict) -> bool:
    """The job has an outcome."""
    return job["state"] in ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def penguins_id(live_server):
    """The penguins table uploaded to the module's server."""
    return upload(live_server.url, palmerpenguins.load_penguins(), "penguins.csv")


def test_two_trainings_of_one_name_at_once_give_two_versions(live_server, penguins_id):
    body = {"dataset_id": penguins_id, "target": "species", "name": "twins", "params": FAST}
    with ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda _: train(live_server.url, **body), range(2)))
    assert [r.status_code for r in started] == [202, 202], [r.text for r in started]
    # DSBA_MAX_JOBS is 2: a third while both are active is refused, not queued without bound.
    third = train(live_server.url, **body)
    assert third.status_code == 409 and "already running" in third.json()["message"]

    jobs = [wait_for(live_server.url, r.json()["id"], finished) for r in started]

    assert [job["state"] for job in jobs] == ["succeeded", "succeeded"], jobs
    assert sorted(job["model"] for job in jobs) == ["twins:1", "twins:2"]
    listed = session().get(f"{live_server.url}/api/models", timeout=10).json()
    assert {m["name"]: m["versions"] for m in listed}["twins"] == [1, 2]


def _slow_dataset() -> pd.DataFrame:
    """A table with no signal: with patient early stopping, training runs for minutes."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20_000, 12)), columns=[f"x{i}" for i in range(12)])
    frame["label"] = rng.choice(["a", "b"], size=len(frame))
    return frame


def _job_process(job_id: str) -> psutil.Process:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "dsba.jobrunner" in cmdline and job_id in cmdline:
            return process
    raise AssertionError(f"no dsba.jobrunner process for job {job_id}")


def test_a_killed_job_is_reported_failed_and_the_server_keeps_serving(live_server, penguins_id):
    workers = live_server.worker_pids()
    slow_id = upload(live_server.url, _slow_dataset(), "noise.csv")
    params = {"n_estimators": 5000, "early_stopping_rounds": 1000, "max_depth": 8}
    started = train(
        live_server.url, dataset_id=slow_id, target="label", name="doomed", params=params
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    running = wait_for(
        live_server.url, job_id, lambda job: finished(job) or job["progress"]["round"] > 0
    )
    assert running["state"] == "running", running
    process = _job_process(job_id)
    # The pid is the server's business (not in the API): the job record in the store has it.
    record = json.loads((live_server.registry_dir / "jobs" / f"{job_id}.json").read_text())
    assert process.pid == record["pid"]

    process.send_signal(signal.SIGKILL)
    failed = wait_for(live_server.url, job_id, finished, timeout=30)

    assert failed["state"] == "failed"
    assert "stopped unexpectedly" in failed["error"]
    assert failed.get("model") is None
    listed = session().get(f"{live_server.url}/api/models", timeout=10).json()
    assert "doomed" not in [m["name"] for m in listed]
    # The web workers were untouched and still answer, training included.
    assert live_server.worker_pids() == workers
    assert session().get(f"{live_server.url}/healthz", timeout=10).status_code == 200
    after = train(
        live_server.url, dataset_id=penguins_id, target="species", name="after", params=FAST
    )
    assert wait_for(live_server.url, after.json()["id"], finished)["state"] == "succeeded"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        """Keep the test output clean."""


@pytest.fixture
def file_server(tmp_path):
    """Serve tmp_path over http on a loopback port; yield its base URL."""
    palmerpenguins.load_penguins().to_csv(tmp_path / "penguins.csv", index=False)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_training_from_a_loopback_url_needs_the_host_allowed(live_server, file_server):
    source = f"{file_server}/penguins.csv"
    refused = train(live_server.url, source=source, target="species", name="fromurl")
    assert refused.status_code == 403
    assert (
        "127.0.0.1" in refused.json()["message"]
        and "DSBA_URL_ALLOW_HOSTS" in (refused.json()["message"])
    )


def test_training_from_an_allowed_url_works(start_gunicorn, file_server):
    server = start_gunicorn(DSBA_URL_ALLOW_HOSTS="127.0.0.1")
    source = f"{file_server}/penguins.csv"
    started = train(server.url, source=source, target="species", name="fromurl", params=FAST)
    assert started.status_code == 202, started.text
    assert started.json()["request"]["dataset"] == "penguins.csv"
    job = wait_for(server.url, started.json()["id"], finished)
    assert job["state"] == "succeeded", job
    meta = session().get(f"{server.url}/api/models/fromurl/metadata", timeout=10).json()
    assert meta["dataset"]["source"] == source
    missing = train(server.url, source=f"{file_server}/nope.csv", target="species", name="x")
    assert missing.status_code == 400 and "HTTP 404" in missing.json()["message"]


def test_jobs_cancelled_over_the_api_and_the_remote_cli_stop_and_register_nothing(live_server):
    slow_id = upload(live_server.url, _slow_dataset(), "noise.csv")
    params = {"n_estimators": 5000, "early_stopping_rounds": 1000, "max_depth": 8}
    jobs = []
    for name in ("cancel-api", "cancel-cli"):
        started = train(
            live_server.url, dataset_id=slow_id, target="label", name=name, params=params
        )
        assert started.status_code == 202, started.text
        jobs.append(started.json()["id"])
    for job_id in jobs:
        wait_for(live_server.url, job_id, lambda job: finished(job) or job["progress"]["round"] > 0)
    processes = [_job_process(job_id) for job_id in jobs]

    by_api = session().post(f"{live_server.url}/api/jobs/{jobs[0]}/cancel", timeout=10)
    by_cli = CliRunner().invoke(main, ["--remote", live_server.url, "jobs", "cancel", jobs[1]])

    assert by_api.status_code == 202, by_api.text
    assert by_api.json()["cancel_requested"] is True
    assert by_cli.exit_code == 0, by_cli.output
    assert jobs[1] in by_cli.output and "cancel requested" in by_cli.output
    for job_id, process in zip(jobs, processes, strict=True):
        ended = wait_for(live_server.url, job_id, finished, timeout=60)
        assert ended["state"] == "cancelled", ended
        assert ended.get("model") is None
        process.wait(timeout=30)
    names = [m["name"] for m in session().get(f"{live_server.url}/api/models", timeout=10).json()]
    assert "cancel-api" not in names and "cancel-cli" not in names
    listed = CliRunner().invoke(main, ["--remote", live_server.url, "jobs", "list"])
    assert f"{jobs[0]}  cancelled" in listed.output
    page = session().get(f"{live_server.url}/jobs/{jobs[0]}", timeout=10).text
    assert "Training cancelled" in page and "no model version was registered" in page
    # Both slots are free again; a finished job cannot be cancelled, an unknown one is absent.
    again = session().post(f"{live_server.url}/api/jobs/{jobs[0]}/cancel", timeout=10)
    assert again.status_code == 409
    assert again.json()["message"].startswith(f"job {jobs[0]} has already ended (cancelled)")
    unknown = session().post(f"{live_server.url}/api/jobs/{'0' * 32}/cancel", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["status"] == "Not Found"
    after = train(live_server.url, dataset_id=slow_id, target="label", name="after", params=FAST)
    assert after.status_code == 202, after.text
    assert wait_for(live_server.url, after.json()["id"], finished)["state"] == "succeeded"
