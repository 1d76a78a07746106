"""The app serves with its core dependencies alone, as `make run` and the image install it.

The test venv holds the dev and dask extras too. A sitecustomize on PYTHONPATH hides every
installed distribution outside the closure of pyproject.toml's core dependencies from each
process of the real gunicorn (master, workers, training jobs): an import that needs one
fails as it would in the lean venv; an optional one falls back as it would there.
"""

from __future__ import annotations

import io
import os
import time
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
import requests
from datagen import colour_logit
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "dsba-platform"
JOB_DEADLINE = 120.0

# Each process that starts leaves a file named by its pid, so the test sees the guard ran there.
SITECUSTOMIZE = '''
import os, sys

HIDDEN = {hidden!r}


class HideExtras:
    """Refuse the top-level modules of distributions outside the core install."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (core install)", name=name)
        return None


sys.meta_path.insert(0, HideExtras())
open(os.path.join({marks!r}, str(os.getpid())), "w").close()
'''


def core_distributions() -> set[str]:
    """pyproject.toml's core dependencies and everything they require here, by canonical name."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(spec) for spec in project["dependencies"]]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(requirement.name).requires or []
        except PackageNotFoundError:  # a dependency for another platform
            continue
        extras = requirement.extras or {""}
        for spec in map(Requirement, requires):
            if spec.marker is None or any(spec.marker.evaluate({"extra": e}) for e in extras):
                pending.append(spec)
    return {name for name, _ in seen} | {PROJECT}


def hidden_modules() -> set[str]:
    """Top-level modules that only distributions outside the core install provide."""
    core = core_distributions()
    return {
        module
        for module, dists in packages_distributions().items()
        if not {canonicalize_name(dist) for dist in dists} & core
    }


@pytest.fixture
def start_core_gunicorn(start_gunicorn, tmp_path):
    """Return start(**env) -> a real gunicorn whose processes see the core install only."""
    hidden = hidden_modules()
    # The guard must hide what the extras bring, or this test proves nothing.
    assert {"pytest", "playwright", "schemathesis"} <= hidden
    site, marks = tmp_path / "site", tmp_path / "marks"
    site.mkdir()
    marks.mkdir()
    (site / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(hidden=sorted(hidden), marks=str(marks))
    )
    path = os.pathsep.join(filter(None, [str(site), str(REPO_ROOT), os.environ.get("PYTHONPATH")]))

    def start(**env: str):
        server = start_gunicorn(PYTHONPATH=path, **env)
        return server, marks

    return start


@pytest.fixture
def http():
    """A session that never sends loopback traffic through a proxy from the environment."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def upload(http: requests.Session, url: str, rows: int) -> str:
    """Upload a small synthetic CSV; return its dataset id."""
    data = io.BytesIO(colour_logit(rows, seed=3).to_csv(index=False).encode())
    response = http.post(f"{url}/api/datasets", files={"file": ("s.csv", data)}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_app_serves_trains_and_predicts_with_the_core_dependencies_alone(
    start_core_gunicorn, http
):
    server, marks = start_core_gunicorn()
    url = server.url
    dataset_id = upload(http, url, 400)
    started = http.post(
        f"{url}/api/train",
        json={
            "dataset_id": dataset_id,
            "target": "label",
            "name": "lean",
            "params": {"n_estimators": 10},
        },
        timeout=60,
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + JOB_DEADLINE
    while (job := http.get(f"{url}/api/jobs/{job_id}", timeout=10).json())["state"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["state"] == "succeeded", job

    record = colour_logit(3, seed=4).drop(columns="label").to_dict("records")
    posts = {
        "/api/predict": {"model": "lean", "records": record},
        "/api/models/lean/invocations": {"dataframe_records": record},
    }
    for path, body in posts.items():
        response = http.post(f"{url}{path}", json=body, timeout=30)
        assert response.status_code == 200, (path, response.text)
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/openapi.json",
        "/api/models",
        "/api/models/lean/metadata",
        "/api/jobs",
        "/",
        "/train",
        f"/datasets/{dataset_id}",
        f"/jobs/{job_id}",
        "/models/lean",
        "/models/lean/predict",
    ):
        response = http.get(f"{url}{path}", timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])

    assert "Traceback" not in server.stderr()
    # The guard ran in the master (the workers are its forks) and in the one training job.
    guarded = {int(mark.name) for mark in marks.iterdir()}
    assert server.proc.pid in guarded
    assert len(guarded) == 2


def test_a_dask_training_without_the_dask_extra_is_refused_before_a_job_starts(
    start_core_gunicorn, http
):
    # Nothing listens there: the refusal must come before any attempt to reach it.
    server, _ = start_core_gunicorn(
        DSBA_DASK_SCHEDULER="tcp://127.0.0.1:9", DSBA_DASK_MIN_BYTES="0"
    )
    dataset_id = upload(http, server.url, 200)

    response = http.post(
        f"{server.url}/api/train",
        json={"dataset_id": dataset_id, "target": "label", "name": "big"},
        timeout=60,
    )

    assert response.status_code == 409, response.text
    body = response.json()
    assert (body["code"], body["status"]) == (409, "Conflict")
    assert "dask extra is not installed" in body["message"]
    assert "DSBA_DASK_SCHEDULER" in body["message"]
    assert http.get(f"{server.url}/api/jobs", timeout=10).json() == []
