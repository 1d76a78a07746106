"""Build the Dockerfile with podman, run it on a temp registry, train and predict over HTTP.

Skipped, with the reason, where podman is missing or cannot run containers, or
where no Python base image can be had: python:3.11-slim comes from Docker Hub;
tests/deploy/python_standin.sh builds an equivalent from Debian packages.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import palmerpenguins
import pytest
import requests

from dsba.auth import hash_token

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/dsba-platform:test"
BASES = ["docker.io/library/python:3.11-slim", "localhost/python-standin:3.11"]
# Restricted sandboxes (no CAP_SYS_RESOURCE, hybrid cgroups) need runc on
# cgroupfs and limits no higher than the current ones; elsewhere none of it.
SANDBOX_FLAGS = (["--runtime", "runc", "--cgroup-manager", "cgroupfs"], [
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
])  # fmt: skip


def podman(*args: str, timeout: float = 120, check: bool = True, **kw):
    """Run podman; the result's stdout and stderr are text."""
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=check, **kw
    )


@pytest.fixture(scope="module")
def engine() -> tuple[list[str], list[str], str]:
    """(global flags, run flags, base image) with which podman works on this machine."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman runc)")
    base = os.environ.get("DSBA_TEST_PYTHON_IMAGE") or next(
        (b for b in BASES if podman("image", "exists", b, check=False).returncode == 0), None
    )
    if base is None:
        pulled = podman("pull", BASES[0], check=False, timeout=90)
        if pulled.returncode != 0:
            pytest.skip(
                f"no Python base image: pulling {BASES[0]} failed "
                f"({pulled.stderr.strip().splitlines()[-1]}); "
                "tests/deploy/python_standin.sh builds one from Debian packages"
            )
        base = BASES[0]
    errors = []
    for global_flags, run_flags in [([], []), SANDBOX_FLAGS]:
        probe = podman(
            *global_flags, "run", "--rm", *run_flags, base, "python", "-c", "pass", check=False
        )
        if probe.returncode == 0:
            return global_flags, run_flags, base
        errors.append(probe.stderr.strip())
    pytest.skip(f"podman cannot run containers here: {errors}")


@pytest.fixture(scope="module")
def image(engine) -> str:
    """The project's image, built from the work tree (layers cached between runs)."""
    global_flags, run_flags, base = engine
    build = podman(
        *global_flags, "build", *run_flags, "--format", "docker",
        "--build-arg", f"PYTHON_IMAGE={base}", "-t", IMAGE, str(ROOT),
        timeout=1800, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, name: str, global_flags: list[str], deadline: float = 120) -> None:
    """Wait for /readyz to answer 200, or fail with the container's log."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # refused, or workers still booting
            pass
        time.sleep(0.5)
    logs = podman(*global_flags, "logs", name, check=False)
    pytest.fail(f"/readyz never answered 200:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")


def test_image_serves_training_and_predictions_from_a_mounted_registry(engine, image, tmp_path):
    global_flags, run_flags, _ = engine
    registry = tmp_path / "registry"
    registry.mkdir()
    registry.chmod(0o777)  # like an Azure File Share mount: the app's uid must write
    token = secrets.token_urlsafe(24)
    port = free_port()
    name = f"dsba-test-{port}"
    # `-e NAME` without a value: podman reads it from its environment, not argv.
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(32),
        "DSBA_API_TOKENS": f"ci:writer:{hash_token(token)}",
    }
    podman(
        *global_flags, "run", "-d", "--name", name, *run_flags,
        "-p", f"127.0.0.1:{port}:8000", "-v", f"{registry}:/app/models/registry",
        "-e", "DSBA_ENV=production", "-e", "SECRET_KEY", "-e", "DSBA_API_TOKENS",
        image, env=env,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, name, global_flags)
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{url}/api/models", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}

        penguins = palmerpenguins.load_penguins().dropna(subset=["species"])
        upload = requests.post(
            f"{url}/api/datasets",
            files={"file": ("penguins.csv", io.BytesIO(penguins.to_csv(index=False).encode()))},
            headers=auth,
            timeout=30,
        )
        assert upload.status_code == 201, upload.text
        job = requests.post(
            f"{url}/api/train",
            json={"dataset_id": upload.json()["id"], "target": "species", "name": "penguins"},
            headers=auth,
            timeout=30,
        )
        assert job.status_code == 202, job.text
        job_url = f"{url}/api/jobs/{job.json()['id']}"
        end = time.monotonic() + 180
        while (state := requests.get(job_url, headers=auth, timeout=5).json())["state"] not in {
            "succeeded",
            "failed",
        }:
            assert time.monotonic() < end, state
            time.sleep(1)
        assert state["state"] == "succeeded", state

        records = penguins.drop(columns=["species"]).head(3)
        records = records.astype(object).where(records.notna(), None).to_dict("records")
        predicted = requests.post(
            f"{url}/api/predict",
            json={"model": "penguins", "records": records},
            headers=auth,
            timeout=30,
        )
        assert predicted.status_code == 200, predicted.text
        labels = [p["label"] for p in predicted.json()["predictions"]]
        assert labels == list(penguins["species"].head(3))

        # The model is on the mounted folder, written by the image's non-root user.
        [model] = list((registry / "models" / "penguins").glob("*/model.ubj"))
        assert model.stat().st_uid == 10001
        health = podman(*global_flags, "healthcheck", "run", name, check=False)
        assert health.returncode == 0, health.stdout + health.stderr
    finally:
        podman(*global_flags, "rm", "-f", name, check=False)
