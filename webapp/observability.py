"""Request ids, one JSON access-log line per request, and Prometheus metrics."""

from __future__ import annotations

import logging
import os
import time

import orjson
from flask import Flask, Request, Response, g
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from dsba.logs import JsonFormatter, configure_logging
from webapp.metric_tallies import TALLIES

access_log = logging.getLogger("webapp.access")
_UTF8 = ("utf-8", "utf8")

REQUESTS = Counter("dsba_http_requests", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "dsba_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PREDICTIONS = Counter("dsba_predictions", "Prediction requests", ["model"])
PREDICTED_ROWS = Counter("dsba_predicted_rows", "Rows scored", ["model"])
MODEL_CACHE = Counter("dsba_model_cache", "Model cache lookups", ["result"])
LOG_DROPPED = Counter(
    "dsba_prediction_log_dropped", "Prediction log rows dropped (store full or read-only)"
)


def bind(req: Request, ctx) -> None:
    """g.request_id, and the request and g for the access line (front_door calls it first)."""
    environ = req.environ
    rid = environ.get("dsba.request_id")
    if rid is None:  # an app called without its RequestLayer (a test's bare wsgi_app)
        from webapp.middleware import request_id

        rid = environ["dsba.request_id"] = request_id(environ)
    ctx.request_id = rid
    # middleware.RequestLayer writes the line once the app has answered, when Flask has
    # popped its contexts; it pops these two again.
    environ["dsba.request"], environ["dsba.g"] = req, ctx


# ".000+00:00" to ".999+00:00", formatted once: a timestamp joins two ready strings.
_MILLIS = tuple(f".{millis:03d}+00:00" for millis in range(1000))
# The last second formatted and its text (one tuple, so threads never read half an update).
_last_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """JsonFormatter's "ts" for time.time() created: UTC ISO 8601 to the millisecond."""
    global _last_second
    second = int(created)
    # As datetime does: round to the microsecond, then cut to the millisecond.
    micros = round((created - second) * 1_000_000)
    if micros == 1_000_000:
        second, micros = second + 1, 0
    last = _last_second
    if last[0] != second:  # a worker formats each second once
        last = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return last[1] + _MILLIS[micros // 1000]


def _json_stream() -> logging.StreamHandler | None:
    """The handler access lines reach, if it is the one JsonFormatter stream and nothing else."""
    parent = access_log.parent
    if access_log.handlers or parent.propagate or len(parent.handlers) != 1:
        return None
    handler = parent.handlers[0]
    plain = isinstance(handler, logging.StreamHandler) and not handler.filters
    return handler if plain and type(handler.formatter) is JsonFormatter else None


def write_access(fields: dict) -> None:
    """Write a request's access line: the line JsonFormatter writes, straight to its stream.

    A LogRecord, the formatter's attribute filtering and json.dumps cost about 30 µs of CPU
    a request; this about 5. Any other logging set-up (text lines) goes through logging.
    """
    if not access_log.isEnabledFor(logging.INFO):
        return
    handler = _json_stream()
    if handler is None:
        access_log.info("request", extra=fields)
        return
    created = time.time()
    line = orjson.dumps(
        {
            "ts": _timestamp(created),
            "level": "info",
            "logger": access_log.name,
            "message": "request",
            **fields,
        },
        default=str,
        option=orjson.OPT_APPEND_NEWLINE,
    )
    stream = handler.stream
    with handler.lock:
        try:
            binary = getattr(stream, "buffer", None)
            if binary is not None and stream.encoding.lower() in _UTF8:
                # orjson's bytes are the stream's own encoding: no decoding and encoding
                # again. Every logging handler flushes its text, so nothing waits before us.
                binary.write(line)
                binary.flush()
            else:
                stream.write(line.decode())
                stream.flush()
            return
        except UnicodeEncodeError:
            pass  # a stream that is not UTF-8: json's \u escapes below, as before
        except (OSError, ValueError):
            handler.handleError(logging.makeLogRecord({"msg": "access line", "created": created}))
            return
    access_log.info("request", extra=fields)


def record_prediction(model_ref: str, rows: int) -> None:
    """Count a prediction request and its rows for a model; remember it for the access log."""
    name = (model_ref.split(":")[0],)
    TALLIES.inc(PREDICTIONS, name)
    TALLIES.inc(PREDICTED_ROWS, name, rows)
    g._get_current_object().model_ref = model_ref  # not through the proxy's __setattr__


def record_log_drop(rows: int) -> None:
    """Count prediction log rows that could not be written (called off the request thread)."""
    LOG_DROPPED.inc(rows)


def record_cache(hit: bool) -> None:
    """Count a model cache hit or a load from the store."""
    TALLIES.inc(MODEL_CACHE, ("hit" if hit else "load",))


class JobStateCollector:
    """Jobs by state in the store (shared by all workers), without reading every record."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        """Yield one gauge sample per job state."""
        store = self.app.extensions["dsba"].jobs
        counts = {**store.count_by_state(), **store.count_finished()}
        gauge = GaugeMetricFamily(
            "dsba_jobs", "Training jobs in the store by state", labels=["state"]
        )
        for state, count in counts.items():
            gauge.add_metric([state], count)
        yield gauge


def _monitoring_service(app: Flask):
    """A service for the drift gauges with its own small model cache.

    The gauges look at every watched version; loading them through the serving cache would
    evict the models predictions use and count as serving cache loads.
    """
    from dsba.registry.model_registry import ModelRegistry
    from dsba.service import LocalService

    settings = app.extensions["dsba"].settings
    return LocalService(settings, registry=ModelRegistry(settings.registry_dir, cache_size=2))


def metrics_view(app: Flask):
    """Build the /metrics view: all workers' samples in multiprocess mode, job gauges, drift."""
    from webapp.monitoring_metrics import MonitoringCollector

    jobs = CollectorRegistry()
    jobs.register(JobStateCollector(app))
    interval = app.config["DSBA_MONITORING_METRICS_SECONDS"]
    jobs.register(MonitoringCollector(_monitoring_service(app), interval))

    def metrics() -> Response:
        TALLIES.flush()  # this worker's; the others' are at most a second old
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(registry)
        else:
            from prometheus_client import REGISTRY

            registry = REGISTRY
        output = generate_latest(registry)
        return Response(output + generate_latest(jobs), mimetype=CONTENT_TYPE_LATEST)

    return metrics


def init_observability(app: Flask, json_lines: bool) -> None:
    """Configure logging and add the /metrics route."""
    configure_logging(json_lines)
    app.logger.handlers[:] = logging.getLogger("webapp").handlers
    app.add_url_rule("/metrics", "metrics", metrics_view(app))
