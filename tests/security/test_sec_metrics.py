"""/metrics under two gunicorn workers: prometheus_client's multiprocess mode sums them all."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from security_helpers import (
    METRICS_TOKEN,
    bearer,
    http,
    metric_samples,
    metric_sum,
    wait_for_job,
)

from tests.polling import settled
from webapp.metric_tallies import FLUSH_SECONDS

BATCH = 60
MAX_REQUESTS = 600
RECORD = {
    "island": "Dream",
    "bill_length_mm": 39.0,
    "bill_depth_mm": 18.5,
    "flipper_length_mm": 190,
    "body_mass_g": 3700,
    "sex": "female",
    "year": 2008,
}


def scrape(server) -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics as the scraper and parse it with prometheus_client's parser."""
    response = http().get(f"{server.url}/metrics", headers=bearer(METRICS_TOKEN), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return metric_samples(response.text)


def healthz_count_of(metrics_dir: Path, pid: int, scratch: Path) -> float:
    """The /healthz request count in one worker's own counter file, read the public way: a
    MultiProcessCollector over a folder holding only that file."""
    folder = scratch / f"pid-{pid}-{time.monotonic_ns()}"
    folder.mkdir()
    source = metrics_dir / f"counter_{pid}.db"
    if not source.exists():
        return 0.0
    shutil.copy(source, folder / source.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    samples = metric_samples(generate_latest(registry).decode())
    return metric_sum(samples, "dsba_http_requests_total", route="/healthz")


def flushed() -> None:
    """Wait until every worker has handed over what it tallied so far (baselines need it)."""
    time.sleep(FLUSH_SECONDS + 0.5)


def wait_for_workers(server, count: int = 2, deadline: float = 20.0) -> list[int]:
    """The pids of the server's workers once there are count of them."""
    stop = time.monotonic() + deadline
    while len(pids := server.server.worker_pids()) < count and time.monotonic() < stop:
        time.sleep(0.1)
    assert len(pids) == count, pids
    return pids


def hit_healthz(url: str) -> int:
    """One request on a new connection (so either worker may accept it)."""
    return http().get(url, headers={"Connection": "close"}, timeout=10).status_code


def test_requests_through_both_workers_are_all_counted(secure_server, tmp_path):
    pids = wait_for_workers(secure_server)
    flushed()
    before_total = metric_sum(scrape(secure_server), "dsba_http_requests_total", route="/healthz")
    before = {pid: healthz_count_of(secure_server.metrics_dir, pid, tmp_path) for pid in pids}
    made = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        # Concurrent requests keep one worker busy so the other must take some; stop once
        # both have (almost always after the first batch).
        while made < MAX_REQUESTS:
            statuses = list(pool.map(hit_healthz, [f"{secure_server.url}/healthz"] * BATCH))
            assert statuses == [200] * BATCH
            made += BATCH
            flushed()
            counts = {p: healthz_count_of(secure_server.metrics_dir, p, tmp_path) for p in pids}
            if all(counts[pid] > before[pid] for pid in pids):
                break
    assert secure_server.server.worker_pids() == pids  # no worker died and was replaced

    def served_now() -> dict[int, float]:
        counts = {p: healthz_count_of(secure_server.metrics_dir, p, tmp_path) for p in pids}
        return {pid: counts[pid] - before[pid] for pid in pids}

    # Another worker's requests reach the files up to a second late (metric_tallies.py).
    settled(lambda: sum(served_now().values()), made)
    served = served_now()
    assert all(n > 0 for n in served.values()), served
    assert sum(served.values()) == made, (served, made)
    total = settled(
        lambda: metric_sum(scrape(secure_server), "dsba_http_requests_total", route="/healthz"),
        before_total + made,
    )
    assert total - before_total == made
    latency_count = metric_sum(
        scrape(secure_server), "dsba_http_request_duration_seconds_count", route="/healthz"
    )
    assert latency_count >= made


def test_requests_are_counted_by_route_method_and_status(secure_server, tokens):
    reader = http()
    reader.headers.update(bearer(tokens.reader))
    base = secure_server.url
    flushed()
    samples = scrape(secure_server)
    route = "/api/models/<ref>/metadata"
    ok_before = metric_sum(samples, "dsba_http_requests_total", route=route, status="200")
    missing_before = metric_sum(samples, "dsba_http_requests_total", route=route, status="404")
    for _ in range(3):
        assert reader.get(f"{base}/api/models/penguins/metadata").status_code == 200
    assert reader.get(f"{base}/api/models/nope/metadata").status_code == 404

    def counted() -> tuple[float, float]:
        samples = scrape(secure_server)
        ok = metric_sum(
            samples, "dsba_http_requests_total", route=route, method="GET", status="200"
        )
        missing = metric_sum(samples, "dsba_http_requests_total", route=route, status="404")
        return ok - ok_before, missing - missing_before

    assert settled(counted, (3, 1)) == (3, 1)


def test_predictions_rows_and_model_cache_are_counted(secure_server, tokens):
    reader = http()
    reader.headers.update(bearer(tokens.reader))
    flushed()
    before = scrape(secure_server)
    responses = [
        reader.post(
            f"{secure_server.url}/api/predict",
            json={"model": "penguins", "records": [RECORD] * 3},
            headers={"Connection": "close"},
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in responses] == [200] * 4

    def predictions() -> float:
        return metric_sum(scrape(secure_server), "dsba_predictions_total", model="penguins")

    settled(predictions, metric_sum(before, "dsba_predictions_total", model="penguins") + 4)
    flushed()  # the cache counters come with the same flushes
    after = scrape(secure_server)

    def delta(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    assert delta("dsba_predictions_total", model="penguins") == 4
    assert delta("dsba_predicted_rows_total", model="penguins") == 12
    # Each lookup of the model is a hit or a load; loads happen once per worker at most.
    hits, loads = (
        delta("dsba_model_cache_total", result="hit"),
        delta("dsba_model_cache_total", result="load"),
    )
    assert hits + loads >= 4
    assert metric_sum(after, "dsba_model_cache_total", result="load") <= 2 * 2
    assert metric_sum(after, "dsba_model_cache_total", result="hit") >= 2


def test_jobs_are_counted_by_state(secure_server, tokens):
    started = http().post(
        f"{secure_server.url}/api/train",
        json={
            "source": "penguins.csv",
            "target": "species",
            "name": "metrics",
            "params": {"n_estimators": 5},
        },
        headers=bearer(tokens.writer),
    )
    assert started.status_code == 202, started.text
    job = wait_for_job(secure_server.url, started.json()["id"], tokens.reader)
    assert job["state"] == "succeeded"
    jobs = http().get(f"{secure_server.url}/api/jobs", headers=bearer(tokens.reader)).json()
    samples = scrape(secure_server)
    for state in ("queued", "running", "succeeded", "failed"):
        expected = sum(1 for j in jobs if j["state"] == state)
        assert metric_sum(samples, "dsba_jobs", state=state) == expected, state
    assert metric_sum(samples, "dsba_jobs", state="succeeded") >= 1


@pytest.mark.parametrize("kind", ["counter", "histogram"])
def test_each_worker_writes_its_own_metrics_file(secure_server, kind):
    pids = wait_for_workers(secure_server)
    files = {path.name for path in secure_server.metrics_dir.glob("*.db")}
    assert {f"{kind}_{pid}.db" for pid in pids} <= files, files
