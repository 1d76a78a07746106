"""gunicorn settings, all from the environment (defaults serve a laptop)."""

import gc
import os
import shutil
import tempfile

# prometheus_client's multiprocess mode: every worker writes its samples to this folder and
# /metrics sums them. The library picks single or multi-process values when first imported,
# and workers inherit the master's modules, so the folder is set before anything imports it.
# A folder made here is the server's own, and on_exit removes it.
_OWN_PREFIX = os.path.join(tempfile.gettempdir(), "dsba-metrics-")
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dsba-metrics-")

# Imported here, not on the first worker death, so the master's memory does not step up later.
from prometheus_client import multiprocess  # noqa: E402

bind = os.environ.get("DSBA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("DSBA_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("DSBA_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("DSBA_KEEPALIVE", "5"))
max_requests = int(os.environ.get("DSBA_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("DSBA_MAX_REQUESTS_JITTER", "0"))
loglevel = os.environ.get("DSBA_LOG_LEVEL", "info")
# The app writes its own JSON access log line per request; gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
# The model cache lives per worker; load the app after fork so each worker owns its own.
preload_app = False


def on_starting(server):
    """Start from an empty metrics folder (stale files from a previous run would add up)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def post_worker_init(worker):
    """Keep the garbage collector off what the worker loaded at start-up.

    The app's modules (pandas, XGBoost, scikit-learn, ...) are about 170,000 objects that live
    as long as the worker; every full collection walked them all (about 85 ms on the machine
    we measure on, one every few thousand predictions). Frozen, they are never scanned.
    """
    gc.freeze()


def worker_exit(server, worker):
    """Write the worker's buffered prediction log rows and metric tallies before it goes."""
    from dsba.monitoring.prediction_log import close_all
    from webapp.metric_tallies import TALLIES

    close_all()
    TALLIES.flush()


def child_exit(server, worker):
    """Drop a dead worker's live gauges."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this server made for itself (not one it was given)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if folder.startswith(_OWN_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)
