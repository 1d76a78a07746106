"""Helpers for the security tests: HTTP sessions, login, jobs and metrics against a live server."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
JOB_DEADLINE = 120.0
# One penguin to score, every feature present.
RECORD = {
    "island": "Biscoe",
    "bill_length_mm": 45.0,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 220,
    "body_mass_g": 5000,
    "sex": "male",
    "year": 2008,
}


def http() -> requests.Session:
    """A session that never goes through a proxy from the shell (all traffic is loopback)."""
    session = requests.Session()
    session.trust_env = False
    return session


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for a token (none for None)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in a page."""
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def login(session: requests.Session, base: str, name: str, token: str) -> requests.Response:
    """Sign in through the login form (CSRF token from the GET); return the POST's response."""
    page = session.get(f"{base}/login", timeout=10)
    assert page.status_code == 200, page.text[:300]
    return session.post(
        f"{base}/login",
        data={"csrf_token": csrf_token(page.text), "name": name, "token": token},
        allow_redirects=False,
        timeout=10,
    )


def signed_in(base: str, name: str, token: str) -> requests.Session:
    """A new session signed in as name."""
    session = http()
    response = login(session, base, name, token)
    assert response.status_code == 302, response.text[:300]
    return session


def wait_for_job(base: str, job_id: str, token: str | None) -> dict[str, Any]:
    """Poll a job until it has succeeded or failed; return its record."""
    deadline = time.monotonic() + JOB_DEADLINE
    with http() as session:
        while time.monotonic() < deadline:
            job = session.get(f"{base}/api/jobs/{job_id}", headers=bearer(token), timeout=10)
            assert job.status_code == 200, job.text
            record = job.json()
            if record["state"] in ("succeeded", "failed"):
                return record
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {JOB_DEADLINE:.0f} s")


# The secure server's DSBA_METRICS_TOKEN: what a Prometheus scraper presents.
METRICS_TOKEN = "scraper-" + uuid.uuid4().hex


def metric_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Parse a Prometheus exposition with prometheus_client's parser into (name, labels, value)."""
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def metric_sum(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of the samples named name whose labels include labels."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )
