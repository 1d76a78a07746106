"""gunicorn settings, all from the environment (defaults serve a laptop)."""

import os

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
