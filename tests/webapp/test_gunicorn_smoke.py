"""The real gunicorn serves the app with the configured number of workers."""

import time

import psutil
import requests


def _wait_for_workers(server, count: int, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(pids := server.worker_pids()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def test_healthz_is_served_by_two_workers(live_server):
    response = requests.get(f"{live_server.url}/healthz", timeout=5)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    pids = _wait_for_workers(live_server, 2)
    assert len(pids) == 2
    assert all("gunicorn" in " ".join(psutil.Process(pid).cmdline()) for pid in pids)


def test_extra_env_reaches_the_server_and_teardown_reaps_every_process(start_gunicorn):
    server = start_gunicorn(WEB_CONCURRENCY="3")
    pids = _wait_for_workers(server, 3)
    assert len(pids) == 3
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200

    server.stop()

    assert server.proc.returncode == 0, server.stderr()
    assert not any(psutil.pid_exists(pid) for pid in [server.proc.pid, *pids])
