"""The training process of one job: python -m dsba.jobrunner <job_id>."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from dsba.config import Settings
from dsba.errors import DsbaError
from dsba.jobs.job_store import (
    CANCELLED,
    CANCELLED_MESSAGE,
    FAILED,
    RUNNING,
    SUCCEEDED,
    JobStore,
    utc_now,
)
from dsba.jobs.scoring import SCORE, score_file
from dsba.jobs.scoring_files import ScoringFiles
from dsba.logs import configure_logging
from dsba.model.intervals import DEFAULT_INTERVAL
from dsba.monitoring.prediction_log import PredictionLog
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService

log = logging.getLogger("dsba.jobs")
# Progress is written at most this often: each write is a file replace on a share.
PROGRESS_INTERVAL = 0.5
# Attempts at writing the final state before giving up (the reaper then marks it failed).
FINAL_WRITE_ATTEMPTS = 8


class JobStopped(Exception):
    """The job was cancelled or ran out of time; raised between boosting rounds."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state, self.message = state, message


class JobReporter:
    """Keeps a job's record current: heartbeat, progress and final state, one writer at a time.

    The heartbeat also watches for a cancel request and the DSBA_JOB_TIMEOUT deadline. The
    training thread stops at its next boosting round; one that does not within a few
    heartbeats (still loading data, say) is ended by the heartbeat, unless the model is
    already being registered: then the job finishes as it would have.
    """

    def __init__(self, store: JobStore, job: dict[str, Any], settings: Settings) -> None:
        self.store, self.job = store, job
        self.interval = settings.job_heartbeat_seconds
        self.timeout = settings.job_timeout_seconds
        self.lock = threading.Lock()
        self.commit_lock = threading.Lock()
        self.committed = False
        self.stopped = threading.Event()
        self.stop: JobStopped | None = None
        self.stop_seen = 0.0
        self.started = self.last_write = time.monotonic()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _write(self) -> None:
        self.job["heartbeat_at"] = utc_now()
        self.store.write(self.job)
        self.last_write = time.monotonic()

    def _try_write(self) -> None:
        """Write the record; a failed write is logged and retried at the next beat."""
        try:
            self._write()
        except OSError as error:
            # One lost write must not end the heartbeat: other replicas would then take
            # the job for dead after DSBA_JOB_STALE seconds while it trains on.
            log.warning(
                "job record write failed",
                extra={"event": "job_write_failed", "job_id": self.job["id"], "error": str(error)},
            )

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self._watch()
            except OSError as error:  # the store did not answer: ask again next beat
                log.warning(
                    "job cancel check failed",
                    extra={
                        "event": "job_watch_failed",
                        "job_id": self.job["id"],
                        "error": str(error),
                    },
                )
            with self.lock:
                if not self.stopped.is_set():
                    self._try_write()

    def _watch(self) -> None:
        """Notice a cancel request or the deadline; end a training that does not stop."""
        if self.stop is None:
            self.stop = self._stop_reason()
            self.stop_seen = time.monotonic()
            return
        if time.monotonic() - self.stop_seen < 3 * self.interval:
            return
        with self.commit_lock:
            if self.committed or self.stopped.is_set():
                return  # the model is being registered: let the job end as it would have
            self.finish(state=self.stop.state, error=self.stop.message)
            os._exit(3)

    def _stop_reason(self) -> JobStopped | None:
        if self.store.cancel_requested(self.job["id"]):
            return JobStopped(CANCELLED, CANCELLED_MESSAGE)
        if self.timeout > 0 and time.monotonic() - self.started > self.timeout:
            return JobStopped(
                FAILED,
                f"training ran longer than the {self.timeout:g} s limit (DSBA_JOB_TIMEOUT) "
                "and was stopped",
            )
        return None

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

    def progress(self, done: int, total: int, unit: str = "round") -> None:
        """Record finished boosting rounds (throttled); stop here if the job must stop."""
        if self.stop is not None:
            raise self.stop
        with self.lock:
            self.job["progress"] = {unit: done, "total": total}
            if time.monotonic() - self.last_write >= PROGRESS_INTERVAL:
                self._try_write()

    def search(self, progress: dict[str, Any]) -> None:
        """Record a search's progress after a trial (throttled); stop here if the job must."""
        if self.stop is not None:
            raise self.stop
        with self.lock:
            self.job["progress"] = dict(progress)
            if time.monotonic() - self.last_write >= PROGRESS_INTERVAL:
                self._try_write()

    def rows(self, done: int, total: int) -> None:
        """Record rows scored so far (throttled); stop here if the job must stop."""
        self.progress(done, total, unit="rows")

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        """Let the model be registered unless the job is stopping; then it can no longer stop."""
        with self.commit_lock:
            if self.stop is None:
                self.stop = self._stop_reason()
            if self.stop is not None:
                raise self.stop
            self.committed = True
        yield

    def finish(self, **fields: Any) -> None:
        """Stop the heartbeat and write the final state (retrying: it must not be lost)."""
        self.stopped.set()
        with self.lock:
            self.job.update(finished_at=utc_now(), **fields)
            for attempt in range(FINAL_WRITE_ATTEMPTS):
                try:
                    self._write()
                    break
                except OSError:
                    if attempt == FINAL_WRITE_ATTEMPTS - 1:
                        raise
                    time.sleep(min(0.1 * 2**attempt, 5.0))
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


class _GatedRegistry(ModelRegistry):
    """The registry, saving a version only when the job is not being stopped."""

    def __init__(self, reporter: JobReporter, settings: Settings) -> None:
        super().__init__(settings.registry_dir, cache_size=settings.model_cache_size)
        self.reporter = reporter

    def save_version(self, *args: Any, **kwargs: Any) -> int:
        """Save the version unless a cancel or the deadline came first."""
        with self.reporter.committing():
            return super().save_version(*args, **kwargs)


def server_log(settings: Settings) -> PredictionLog | None:
    """The prediction log as the server keeps it (DSBA_PREDICTION_LOG), or None when off."""
    if not settings.prediction_log:
        return None
    return PredictionLog(
        settings.registry_dir,
        sample=settings.prediction_log_sample,
        keep_days=settings.prediction_log_days,
    )


def _what(job: dict[str, Any]) -> dict[str, Any]:
    request = job.get("request", {})
    return {
        "model_name": request.get("name"),
        "target": request.get("target"),
        "dataset_id": request.get("dataset_id"),
    }


def _score(settings: Settings, reporter: JobReporter) -> dict[str, Any]:
    """Score the staged file of a scoring job; its rows go to the log when the log is on."""
    request = reporter.job["request"]
    log_rows = server_log(settings)
    files = ScoringFiles(settings.registry_dir)
    try:
        service = LocalService(settings, prediction_log=log_rows)
        result = score_file(service, request, reporter.rows, request_id=reporter.job["id"])
    finally:
        files.drop_input(request["input"], request["format"])
        if log_rows is not None:
            log_rows.close()
    rows = result["rows"]
    return {"result": result, "model": request["model"], "progress": {"rows": rows, "total": rows}}


def run_job(settings: Settings, job_id: str) -> int:
    """Run what the job asks for (train or score) and record the outcome; return an exit code."""
    store = JobStore(settings)
    job = store.get(job_id)
    reporter = JobReporter(store, job, settings)
    reporter.start()
    request = job["request"]
    if request.get("kind") == SCORE:
        return _finish_scoring(settings, reporter)
    try:
        service = LocalService(settings, registry=_GatedRegistry(reporter, settings))
        meta = service.train_stored(
            request["dataset_id"],
            target=request["target"],
            name=request["name"],
            params=request.get("params"),
            test_size=request.get("test_size", 0.2),
            seed=request.get("seed", 42),
            progress=reporter.progress,
            exclude=request.get("exclude"),
            kinds=request.get("kinds"),
            # Jobs queued before regression carry neither: inferred, and the default.
            task=request.get("task"),
            interval=request.get("interval", DEFAULT_INTERVAL),
            optimize=request.get("optimize"),
            time_budget=request.get("time_budget"),
            trials=request.get("trials"),
            search_progress=reporter.search,
        )
    except JobStopped as stop:
        reporter.finish(state=stop.state, error=stop.message)
        return 3
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


def _finish_scoring(settings: Settings, reporter: JobReporter) -> int:
    try:
        outcome = _score(settings, reporter)
    except JobStopped as stop:
        reporter.finish(state=stop.state, error=stop.message)
        return 3
    except DsbaError as error:
        reporter.finish(state=FAILED, error=error.message)
        return 1
    except Exception:  # noqa: BLE001 - the job must end recorded, whatever happened
        log.exception("job crashed", extra={"event": "job_crashed", "job_id": reporter.job["id"]})
        reporter.finish(state=FAILED, error="internal error while scoring; see server logs")
        return 2
    reporter.finish(state=SUCCEEDED, **outcome)
    return 0


def main() -> None:
    """Entry point of the job process."""
    settings = Settings.from_env()
    configure_logging(settings.log_json)
    sys.exit(run_job(settings, sys.argv[1]))


if __name__ == "__main__":
    main()
