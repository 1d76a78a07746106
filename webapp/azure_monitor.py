"""Azure Monitor: requests, dependencies, exceptions, logs and dsba's metrics via OpenTelemetry.

On only when APPLICATIONINSIGHTS_CONNECTION_STRING is set and the azure extra is installed
(`pip install '.[azure]'`); otherwise nothing here is imported and the app runs as before.
Each request's span carries our request id (the X-Request-ID header, the access log's
`request_id`) as its `request_id` attribute, so a log line and a trace find each other.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from flask import Flask, Response, g, request

log = logging.getLogger("webapp.azure_monitor")
CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"


def init_azure_monitor(app: Flask, environ: dict[str, str] | None = None) -> bool:
    """Export to Application Insights when a connection string is set; True when on.

    app.config["DSBA_OTEL_OPTIONS"] (tests) adds options for configure_azure_monitor, such as
    span_processors or metric_readers with in-memory exporters.
    """
    env = os.environ if environ is None else environ
    connection_string = env.get(CONNECTION_STRING, "").strip()
    if not connection_string:
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
    except ImportError:
        log.warning(
            "%s is set, but the azure extra is not installed: nothing is exported",
            CONNECTION_STRING,
        )
        return False
    configure_azure_monitor(
        connection_string=connection_string,
        logger_name="webapp",
        # The app exists already: it is instrumented below, not through Flask's class.
        instrumentation_options={"flask": {"enabled": False}},
        enable_live_metrics=False,
        **app.config.get("DSBA_OTEL_OPTIONS", {}),
    )
    # The dsba loggers do not propagate (logs.configure_logging): they get the same handler.
    exporting = [h for h in logging.getLogger("webapp").handlers if _is_otel(h)]
    logging.getLogger("dsba").handlers.extend(exporting)
    FlaskInstrumentor().instrument_app(app)
    _install_metrics(app, metrics.get_meter("dsba"), trace)
    return True


def _is_otel(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("opentelemetry")


def _install_metrics(app: Flask, meter: Any, trace: Any) -> None:
    """Predictions per model, latency, prediction-log drops and monitoring status."""
    from opentelemetry.metrics import Observation

    from webapp.observability import LOG_DROPPED

    predictions = meter.create_counter("dsba.predictions", description="Prediction requests")
    latency = meter.create_histogram(
        "dsba.request.duration", unit="ms", description="Request latency"
    )

    def tag_request() -> None:
        g.otel_started = time.perf_counter()

    def finish(response: Response) -> Response:
        span = trace.get_current_span()
        request_id = g.get("request_id")
        if request_id and span.is_recording():
            span.set_attribute("request_id", request_id)
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("otel_started", time.perf_counter())
        latency.record(elapsed * 1000, {"route": route, "status": response.status_code})
        model = g.get("model_ref")
        if model:
            predictions.add(1, {"model": model.split(":")[0].split("@")[0]})
        return response

    # Before every other hook: a refused request is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, tag_request)
    app.after_request(finish)

    def dropped(_options):
        for family in LOG_DROPPED.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    yield Observation(sample.value)

    meter.create_observable_counter(
        "dsba.prediction_log.dropped", [dropped], description="Prediction log rows dropped"
    )
    collector = _monitoring_collector(app)

    def status(_options):
        for family in collector.collect():
            if family.name == "dsba_model_monitoring_status":
                for sample in family.samples:
                    yield Observation(sample.value, dict(sample.labels))

    meter.create_observable_gauge(
        "dsba.model.monitoring_status",
        [status],
        description="1 for each watched model version's current status (ok, warning, drift...)",
    )


def _monitoring_collector(app: Flask):
    """The /metrics drift collector's twin, read by the metric exporter's thread."""
    from webapp.monitoring_metrics import MonitoringCollector
    from webapp.observability import _monitoring_service

    return MonitoringCollector(
        _monitoring_service(app), app.config["DSBA_MONITORING_METRICS_SECONDS"]
    )
