"""/metrics of gunicorn started the way `make run` and the image start it (no metrics folder
given): every worker's HTTP and prediction counters, and no folder left behind on stop."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.datagen import penguins_model
from tests.polling import settled
from tests.security.security_helpers import RECORD


def _sum(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_make_run_serves_multiprocess_counters_and_cleans_up(start_gunicorn, tmp_path):
    registry = tmp_path / "registry"
    penguins_model(registry, rounds=5)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # As `make run` and the Dockerfile's CMD: nothing sets PROMETHEUS_MULTIPROC_DIR.
    server = start_gunicorn(
        DSBA_REGISTRY_DIR=str(registry), PROMETHEUS_MULTIPROC_DIR=None, TMPDIR=str(scratch)
    )
    http = requests.Session()
    http.trust_env = False
    for _ in range(6):  # new connections, so that both workers may take some
        assert http.get(f"{server.url}/healthz", headers={"Connection": "close"}).ok
    predicted = http.post(
        f"{server.url}/api/predict", json={"model": "penguins", "records": [RECORD] * 3}
    )
    assert predicted.status_code == 200, predicted.text
    folders = list(scratch.glob("dsba-metrics-*"))
    assert len(folders) == 1 and list(folders[0].glob("counter_*.db")), folders

    # Each worker hands its counts to the shared files once a second (metric_tallies.py).
    def counted() -> bool:
        text = http.get(f"{server.url}/metrics").text
        healthz = _sum(text, "dsba_http_requests_total", route="/healthz")
        return healthz >= 6 and _sum(text, "dsba_predicted_rows_total", model="penguins") >= 3

    settled(counted, True)
    text = http.get(f"{server.url}/metrics").text

    assert _sum(text, "dsba_http_requests_total", route="/healthz") >= 6
    assert _sum(text, "dsba_http_requests_total", route="/api/predict", status="200") == 1
    assert _sum(text, "dsba_predictions_total", model="penguins") == 1
    assert _sum(text, "dsba_predicted_rows_total", model="penguins") == 3
    server.stop()
    assert server.proc.returncode == 0, server.stderr()
    assert list(scratch.iterdir()) == []
