"""Training jobs run in their own process; their state lives in the store as JSON."""

from __future__ import annotations

import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsba.config import Settings
from dsba.errors import Conflict, NotFound
from dsba.params import validate_params
from dsba.storage import atomic_write_json, read_json

log = logging.getLogger("dsba.jobs")
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
ACTIVE = (QUEUED, RUNNING)
_JOB_ID_LENGTH = 32
_CREATE_ATTEMPTS = 10
# Seconds after which a job record is no longer a contender that may back off.
_SETTLED = 2.0


def utc_now() -> str:
    """The current UTC time as an ISO string with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _age_seconds(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()


class JobStore:
    """<root>/jobs/<id>.json, readable by every worker and container sharing the store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.registry_dir / "jobs"

    def _path(self, job_id: str) -> Path:
        if len(job_id) != _JOB_ID_LENGTH or not all(c in "0123456789abcdef" for c in job_id):
            raise NotFound(f"no job {job_id!r}", {"job_id": job_id})
        return self.folder / f"{job_id}.json"

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        """Record a new queued job, refusing when DSBA_MAX_JOBS are already active."""
        job = {
            "id": uuid.uuid4().hex,
            "state": QUEUED,
            "request": request,
            "progress": {
                "round": 0,
                "total": validate_params(request.get("params"))["n_estimators"],
            },
            "created_at": utc_now(),
            "heartbeat_at": utc_now(),
        }
        # Write first, count after: of any set of jobs created at once, the last to count
        # sees them all, so no more than the limit ever go ahead, without a lock (SMB has
        # none). Jobs that arrive together may all see too many and back off: each then
        # tries again after a random pause, as Ethernet does, unless the limit is taken by
        # jobs that are not contenders of this moment.
        for _ in range(_CREATE_ATTEMPTS):
            self.write(job)
            jobs = self.list(limit=None)
            active = [other for other in jobs if other["state"] in ACTIVE]
            if len(active) <= self.settings.max_jobs:
                self._prune(jobs)
                return job
            self._path(job["id"]).unlink(missing_ok=True)
            settled = [
                other
                for other in active
                if other["id"] != job["id"] and _age_seconds(other["created_at"]) > _SETTLED
            ]
            if len(settled) >= self.settings.max_jobs:
                break
            time.sleep(random.uniform(0.01, 0.1))
            job["created_at"] = job["heartbeat_at"] = utc_now()
        raise Conflict(
            f"{len(active) - 1} training jobs are already running (limit "
            f"{self.settings.max_jobs}); try again when one finishes"
        )

    def _prune(self, jobs: list[dict[str, Any]]) -> None:
        """Delete the oldest finished records of jobs (newest first) beyond DSBA_JOB_HISTORY."""
        finished = [job for job in jobs if job["state"] not in ACTIVE]
        for job in finished[max(self.settings.job_history, 0) :]:
            self._path(job["id"]).unlink(missing_ok=True)

    def write(self, job: dict[str, Any]) -> None:
        """Replace a job's record atomically."""
        atomic_write_json(self._path(job["id"]), job)

    def get(self, job_id: str) -> dict[str, Any]:
        """A job's record, marked failed if its process has died."""
        path = self._path(job_id)
        try:
            job = read_json(path)
        except FileNotFoundError as exc:
            raise NotFound(f"no job {job_id!r}", {"job_id": job_id}) from exc
        return self._reap(job)

    def list(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """The most recent jobs, newest first (all of them when limit is None)."""
        if not self.folder.exists():
            return []
        jobs = []
        for path in self.folder.glob("*.json"):
            try:
                jobs.append(self._reap(read_json(path)))
            except (OSError, ValueError):
                continue  # a record being replaced right now; it will be back next time
        jobs.sort(key=lambda job: job["created_at"], reverse=True)
        return jobs[:limit]

    def _reap(self, job: dict[str, Any]) -> dict[str, Any]:
        """Mark an active job failed when its process is gone or its heartbeat stopped."""
        if job["state"] not in ACTIVE:
            return job
        reason = None
        same_host = job.get("host") == socket.gethostname()
        if same_host and job.get("pid"):
            # On its own host a job's process is checked directly: a busy machine can delay
            # heartbeats, but it cannot make a dead process look alive.
            if not _runs_job(job["pid"], job["id"]):
                reason = "the training process stopped unexpectedly"
        elif _age_seconds(job.get("heartbeat_at")) > self.settings.job_stale_seconds:
            reason = (
                f"the training process sent no heartbeat for over "
                f"{self.settings.job_stale_seconds:.0f} s and is presumed dead"
            )
        if reason:
            job.update(state=FAILED, error=reason, finished_at=utc_now())
            self.write(job)
        return job


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); check its state where /proc exists.
    status = Path(f"/proc/{pid}/stat")
    if status.exists():
        try:
            return status.read_text().split(") ")[-1][:1] != "Z"
        except OSError:
            return False
    return True


def _runs_job(pid: int, job_id: str) -> bool:
    """True if pid is alive and, where /proc tells, is the runner of this job (not a reuse)."""
    if not _pid_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return job_id in cmdline.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True


def start_job(settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    """Record a job and launch its training process, detached from this one."""
    store = JobStore(settings)
    job = store.create(request)
    env = {**os.environ, "DSBA_REGISTRY_DIR": str(settings.registry_dir)}
    # A web worker may run with OMP_NUM_THREADS=1; training sizes its own threads from
    # DSBA_TRAIN_THREADS (0: every core), so the job must not inherit the worker's limit.
    env.pop("OMP_NUM_THREADS", None)
    if settings.data_dir is not None:
        env["DSBA_DATA_DIR"] = str(settings.data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "dsba.jobrunner", job["id"]],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.info(
        "job queued",
        extra={
            "event": "job_queued",
            "job_id": job["id"],
            "runner_pid": process.pid,
            "model_name": request.get("name"),
            "target": request.get("target"),
            "dataset_id": request.get("dataset_id"),
        },
    )
    # Reap the child when it exits so no zombie outlives it in a long-running web worker.
    threading.Thread(target=process.wait, daemon=True).start()
    return job
