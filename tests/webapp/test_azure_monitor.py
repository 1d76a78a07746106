"""APPLICATIONINSIGHTS_CONNECTION_STRING: requests leave as spans that carry our request id.

OpenTelemetry's providers are global to a process, so each case runs in a fresh Python. The
Azure exporters point at a closed local port; the SDK's in-memory span exporter and metric
reader, added beside them, show what would be exported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/"
)

SCRIPT = """
import json, os, sys
if os.environ.get("HIDE_AZURE_EXTRA"):
    sys.modules["azure.monitor.opentelemetry"] = None  # an install without the azure extra
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from webapp import create_app

spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
app = create_app({"DSBA_OTEL_OPTIONS": {
    "span_processors": [SimpleSpanProcessor(spans)],
    "metric_readers": [reader],
    "disable_offline_storage": True,
    # The distro's default rate-limited sampler drops some spans of a quick burst: keep all.
    "sampling_ratio": 1.0,
}})
client = app.test_client()
answer = client.get("/healthz", headers={"X-Request-ID": "req-abc-123"})
missing = client.get("/api/models/no-such-model/metadata")
metrics = reader.get_metrics_data()
names = sorted(
    m.name for rm in metrics.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
) if metrics else []
print(json.dumps({
    "status": answer.status_code,
    "header": answer.headers.get("X-Request-ID"),
    "missing": [missing.status_code, missing.headers.get("X-Request-ID")],
    "spans": [
        {"name": s.name, "kind": s.kind.name, "attributes": dict(s.attributes)}
        for s in spans.get_finished_spans()
    ],
    "metrics": names,
}))
"""


def run_app(tmp_path: Path, **env: str) -> dict:
    """Start the app in a fresh process, make two requests, return what it exported."""
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DSBA_REGISTRY_DIR": str(tmp_path),
        "DSBA_ENV": "development",
        # Azure's own usage pings would go to the internet.
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        **env,
    }
    for name in ("DSBA_API_TOKENS", "DSBA_KEY_VAULT_URL"):
        environ.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    return {**json.loads(lines[-1]), "log": "\n".join(lines[:-1])}


def test_a_request_is_exported_as_a_span_with_its_request_id(tmp_path):
    pytest.importorskip("azure.monitor.opentelemetry")
    out = run_app(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION)
    assert out["status"] == 200 and out["header"] == "req-abc-123"
    servers = [s for s in out["spans"] if s["kind"] == "SERVER"]
    assert [s["attributes"]["request_id"] for s in servers][0] == "req-abc-123"
    assert servers[0]["attributes"]["http.route"] == "/healthz"
    # A generated id (no header) is on the span as well, the one the response names.
    status, generated = out["missing"]
    assert status == 404
    assert servers[1]["attributes"]["request_id"] == generated
    assert {"dsba.request.duration", "dsba.prediction_log.dropped"} <= set(out["metrics"])


def test_without_a_connection_string_nothing_is_instrumented(tmp_path):
    out = run_app(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING="")
    assert out["status"] == 200 and out["header"] == "req-abc-123"
    assert out["spans"] == [] and out["metrics"] == []


def test_a_connection_string_without_the_extra_warns_and_serves_as_before(tmp_path):
    pytest.importorskip("opentelemetry.sdk")
    out = run_app(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION, HIDE_AZURE_EXTRA="1")
    assert out["status"] == 200 and out["header"] == "req-abc-123"
    assert out["spans"] == [] and out["metrics"] == []
    assert "azure extra is not installed" in out["log"]
