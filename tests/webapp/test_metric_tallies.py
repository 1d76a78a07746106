"""Tallied metrics reach prometheus_client's multiprocess files as observe() and inc() do."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

# Run in a child process: prometheus_client picks multiprocess values on first import.
SCRIPT = textwrap.dedent(
    """
    import os, sys
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    from webapp.metric_tallies import MetricTallies

    counter = Counter("t_requests", "requests", ["route", "status"])
    latency = Histogram("t_latency", "latency", ["route"], buckets=(0.001, 0.01, 0.1, 1))
    values = [0.0, 0.0005, 0.001, 0.001000001, 0.05, 0.1, 0.7, 1.0, 3.0, 12.5]
    tallies = MetricTallies(interval=3600)
    for i, value in enumerate(values):
        route, status = ("/a", "200") if i % 3 else ("/b", "404")
        if sys.argv[1] == "direct":
            counter.labels(route, status).inc()
            latency.labels(route).observe(value)
        else:
            tallies.count_and_time(counter, (route, status), latency, (route,), value)
            if i == 4:
                tallies.flush()  # two flushes add up
    if sys.argv[1] == "direct":
        counter.labels("/c", "200").inc(2.5)
    else:
        tallies.inc(counter, ("/c", "200"), 2.5)
        tallies.flush()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    sys.stdout.write(generate_latest(registry).decode())
    """
)


def _exposition(way: str, folder: Path) -> str:
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, way], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_tallied_metrics_expose_exactly_what_direct_observations_do(tmp_path):
    direct = _exposition("direct", tmp_path / "direct")
    tallied = _exposition("tallied", tmp_path / "tallied")
    assert 't_latency_bucket{le="0.001",route="/a"}' in direct
    assert 't_requests_total{route="/c",status="200"} 2.5' in direct
    # Sums may differ in the last bit (the tally adds in another order); all else is equal.
    assert _samples(tallied) == pytest.approx(_samples(direct), rel=1e-12)


def _samples(text: str) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_flushes_its_own_counts_and_none_of_its_parents(tmp_path):
    script = textwrap.dedent(
        """
        import os, sys, time
        from prometheus_client import CollectorRegistry, Counter, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector
        from webapp.metric_tallies import MetricTallies, TALLIES

        counter = Counter("t_forked", "forked", ["who"])
        TALLIES.inc(counter, ("parent",))  # tallied, not flushed, when the worker forks
        pid = os.fork()
        if pid == 0:
            TALLIES.inc(counter, ("child",), 3)
            time.sleep(TALLIES.interval * 2.5)  # the child's own thread flushes
            os._exit(0)
        os.waitpid(pid, 0)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        sys.stdout.write(generate_latest(registry).decode())
        """
    )
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert 't_forked_total{who="child"} 3.0' in done.stdout
    # The parent's tally is counted once: by its own thread, not again by the forked child.
    assert 't_forked_total{who="parent"} 1.0' in done.stdout
