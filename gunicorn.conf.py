"""gunicorn settings, all from the environment (defaults serve a laptop)."""

import os
import shutil
import tempfile

# Imported here, not on the first worker death, so the master's memory does not step up later.
from prometheus_client import multiprocess

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

# prometheus_client's multiprocess mode: every worker writes its samples to this folder and
# /metrics sums them. It must be set before a worker imports the app.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="dsba-metrics-"))


def on_starting(server):
    """Start from an empty metrics folder (stale files from a previous run would add up)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges."""
    multiprocess.mark_process_dead(worker.pid)
