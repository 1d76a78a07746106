"""Fixtures for the whole suite: a registry folder and real gunicorn servers on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_DEADLINE = 30.0
STOP_TIMEOUT = 10.0
# Variables from the developer's shell that would change how the server under test behaves.
HOST_ENV_PREFIXES = ("DSBA_", "WEB_CONCURRENCY")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A gunicorn master started by the fixtures, with where it listens and logs."""

    url: str
    registry_dir: Path
    proc: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    def workers(self) -> list[psutil.Process]:
        """Return the master's live worker processes."""
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> list[int]:
        """Return the pids of the master's live worker processes."""
        return sorted(worker.pid for worker in self.workers())

    def stderr(self) -> str:
        """Return what gunicorn and the app have logged so far."""
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the master with SIGTERM, SIGKILL its process group if it hangs."""
        if self.proc.poll() is not None:
            return
        workers = self.workers()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc.pid)
            self.proc.wait(timeout=STOP_TIMEOUT)
        # A master that died hard leaves orphans; they must not outlive the test.
        for worker in psutil.wait_procs(workers, timeout=STOP_TIMEOUT)[1]:
            with suppress(psutil.NoSuchProcess):
                worker.kill()


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _server_env(port: int, registry_dir: Path, overrides: dict[str, str | None]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(HOST_ENV_PREFIXES)}
    env.update(
        DSBA_BIND=f"127.0.0.1:{port}",
        DSBA_REGISTRY_DIR=str(registry_dir),
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _wait_until_healthy(server: Server) -> str | None:
    """Poll /healthz until it answers 200; return why not if it never does."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the shell must not see loopback traffic
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                return f"gunicorn exited with status {server.proc.returncode}"
            try:
                if session.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    return None
            except requests.RequestException:  # refused, or workers still booting
                pass
            time.sleep(0.1)
    return f"/healthz did not answer 200 within {STARTUP_DEADLINE:.0f} s"


def _spawn(workdir: Path, overrides: dict[str, str | None]) -> Server:
    port = free_port()
    registry_dir = Path(overrides.get("DSBA_REGISTRY_DIR") or workdir / "registry")
    registry_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / f"gunicorn-{port}.out", workdir / f"gunicorn-{port}.err"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO_ROOT,
            env=_server_env(port, registry_dir, overrides),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            # Its own process group: Ctrl+C reaches pytest only, and teardown can kill the lot.
            start_new_session=True,
        )
    return Server(f"http://127.0.0.1:{port}", registry_dir, proc, stdout_path, stderr_path)


@contextmanager
def run_gunicorn(workdir: Path, **env: str | None) -> Iterator[Server]:
    """Run the real gunicorn in workdir until the block ends; env=None unsets a variable."""
    for attempt in range(3):
        server = _spawn(workdir, env)
        failure = _wait_until_healthy(server)
        if failure is None:
            break
        server.stop()
        # Another process may have taken the port between free_port() and gunicorn's bind.
        if "Address already in use" not in server.stderr() or attempt == 2:
            pytest.fail(f"{failure}; its stderr:\n{server.stderr()}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """Return an empty registry root folder."""
    path = tmp_path / "registry"
    path.mkdir()
    return path


@pytest.fixture
def start_gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Return start(**env) -> Server; every server it started is stopped after the test."""
    with ExitStack() as stack:

        def start(**env: str | None) -> Server:
            return stack.enter_context(run_gunicorn(tmp_path_factory.mktemp("gunicorn"), **env))

        yield start


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Run one gunicorn with the default settings for all the tests of a module."""
    with run_gunicorn(tmp_path_factory.mktemp("live_server")) as server:
        yield server


@pytest.fixture(scope="module")
def training_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn for a module whose tests train: one training thread, as OpenMP spinning on
    a busy 2-core machine costs seconds per model."""
    with run_gunicorn(tmp_path_factory.mktemp("training_server"), DSBA_TRAIN_THREADS="1") as server:
        yield server


@pytest.fixture(scope="module")
def dask_cluster():
    """Run a Dask scheduler and two single-threaded worker processes on 127.0.0.1."""
    import distributed  # only the Dask tests pay for the import

    # The scheduler's HTTP server takes port 8787 unless told otherwise, even without a
    # dashboard; a parallel test run holding it would fail this one. Any free port will do.
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    with cluster as running:
        yield running
