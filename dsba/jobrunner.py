"""The training process of one job: python -m dsba.jobrunner <job_id>."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from dsba.config import Settings
from dsba.errors import DsbaError
from dsba.jobs import FAILED, RUNNING, SUCCEEDED, JobStore, utc_now
from dsba.logs import configure_logging
from dsba.service import LocalService

log = logging.getLogger("dsba.jobs")
# Progress is written at most this often: each write is a file replace on a share.
PROGRESS_INTERVAL = 0.5


class JobReporter:
    """Keeps a job's record current: heartbeat, progress and final state, one writer at a time."""

    def __init__(self, store: JobStore, job: dict[str, Any], interval: float) -> None:
        self.store, self.job, self.interval = store, job, interval
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.last_write = 0.0
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _write(self) -> None:
        self.job["heartbeat_at"] = utc_now()
        self.store.write(self.job)
        self.last_write = time.monotonic()

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                if not self.stopped.is_set():
                    self._write()

    def start(self) -> None:
        """Mark the job running and start the heartbeat."""
        with self.lock:
            self.job.update(
                state=RUNNING, pid=os.getpid(), host=socket.gethostname(), started_at=utc_now()
            )
            self._write()
        self.thread.start()
        log.info(
            "job started",
            extra={
                "event": "job_started",
                "job_id": self.job["id"],
                "pid": os.getpid(),
                **_what(self.job),
            },
        )

    def progress(self, done: int, total: int) -> None:
        """Record finished boosting rounds (throttled)."""
        with self.lock:
            self.job["progress"] = {"round": done, "total": total}
            if time.monotonic() - self.last_write >= PROGRESS_INTERVAL:
                self._write()

    def finish(self, **fields: Any) -> None:
        """Stop the heartbeat and write the final state."""
        self.stopped.set()
        with self.lock:
            self.job.update(finished_at=utc_now(), **fields)
            self._write()
        log.info(
            f"job {self.job['state']}",
            extra={
                "event": f"job_{self.job['state']}",
                "job_id": self.job["id"],
                "model": self.job.get("model"),
                "error": self.job.get("error"),
                **_what(self.job),
            },
        )


def _what(job: dict[str, Any]) -> dict[str, Any]:
    request = job.get("request", {})
    return {
        "model_name": request.get("name"),
        "target": request.get("target"),
        "dataset_id": request.get("dataset_id"),
    }


def run_job(settings: Settings, job_id: str) -> int:
    """Train what the job asks for and record the outcome; return a process exit code."""
    store = JobStore(settings)
    job = store.get(job_id)
    reporter = JobReporter(store, job, settings.job_heartbeat_seconds)
    reporter.start()
    request = job["request"]
    try:
        meta = LocalService(settings).train_stored(
            request["dataset_id"],
            target=request["target"],
            name=request["name"],
            params=request.get("params"),
            test_size=request.get("test_size", 0.2),
            seed=request.get("seed", 42),
            progress=reporter.progress,
        )
    except DsbaError as error:
        reporter.finish(state=FAILED, error=error.message)
        return 1
    except Exception:  # noqa: BLE001 - the job must end recorded, whatever happened
        log.exception("job crashed", extra={"event": "job_crashed", "job_id": job_id})
        reporter.finish(state=FAILED, error="internal error during training; see server logs")
        return 2
    reporter.finish(
        state=SUCCEEDED,
        model=f"{meta['name']}:{meta['version']}",
        metrics=meta["metrics"],
        progress={"round": meta["best_iteration"] + 1, "total": reporter.job["progress"]["total"]},
    )
    return 0


def main() -> None:
    """Entry point of the job process."""
    settings = Settings.from_env()
    configure_logging(settings.log_json)
    sys.exit(run_job(settings, sys.argv[1]))


if __name__ == "__main__":
    main()
