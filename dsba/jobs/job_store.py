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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsba.config import Settings
from dsba.data.target import REGRESSION
from dsba.errors import Conflict, NotFound
from dsba.jobs.job_files import ActiveMarkers, is_job_id, new_job_id, record_ids
from dsba.model.params import validate_params
from dsba.store.atomic import atomic_write_json, read_json

log = logging.getLogger("dsba.jobs")
QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
CANCELLED = "cancelled"
ACTIVE = (QUEUED, RUNNING)
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
CANCELLED_MESSAGE = "cancelled on request"
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


def _first_progress(request: dict[str, Any]) -> dict[str, Any]:
    """Where a training job starts counting: trials of its search, else boosting rounds."""
    regression = request.get("task") == REGRESSION  # its params may name an objective
    if request.get("time_budget") is not None or request.get("trials") is not None:
        return {
            "trial": 0,
            "total": request.get("trials"),
            "seconds_left": request.get("time_budget"),
            "best": None,
            "metric": request.get("optimize") or ("rmse" if regression else "accuracy"),
        }
    params = validate_params(request.get("params"), regression=regression)
    return {"round": 0, "total": params["n_estimators"]}


class JobStore:
    """<root>/jobs/<id>.json, readable by every worker and container sharing the store.

    Ids sort by creation time and <root>/jobs/active/ names the jobs that may be active, so
    listing the newest N jobs opens N records and the limit on active jobs opens only those.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.registry_dir / "jobs"
        self.markers = ActiveMarkers(self.folder)
        # Finished jobs' states by id: a finished record never changes again.
        self._finished: dict[str, str] = {}

    def _path(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise NotFound(f"no job {job_id!r}", {"job_id": job_id})
        return self.folder / f"{job_id}.json"

    def _cancel_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.cancel"

    def create(
        self, request: dict[str, Any], progress: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """Record a new queued job, refusing when DSBA_MAX_JOBS are already active.

        progress is where the job starts counting; a training job counts boosting rounds.
        """
        if progress is None:
            progress = _first_progress(request)
        # Write first, count after: of any set of jobs created at once, the last to count
        # sees them all, so no more than the limit ever go ahead, without a lock (SMB has
        # none). Jobs that arrive together may all see too many and back off: each then
        # tries again after a random pause, as Ethernet does, unless the limit is taken by
        # jobs that are not contenders of this moment.
        for _ in range(_CREATE_ATTEMPTS):
            job = {
                "id": new_job_id(),
                "state": QUEUED,
                "request": request,
                "progress": progress,
                "created_at": utc_now(),
                "heartbeat_at": utc_now(),
            }
            self.write(job)
            self.markers.add(job["id"])
            active = self.active()
            if len(active) <= self.settings.max_jobs:
                self._prune({other["id"] for other in active})
                return job
            self._delete(job["id"])
            settled = [
                other
                for other in active
                if other["id"] != job["id"] and _age_seconds(other["created_at"]) > _SETTLED
            ]
            if len(settled) >= self.settings.max_jobs:
                break
            time.sleep(random.uniform(0.01, 0.1))
        raise Conflict(
            f"{len(active) - 1} training jobs are already running (limit "
            f"{self.settings.max_jobs}); try again when one finishes"
        )

    def _delete(self, job_id: str) -> None:
        self._path(job_id).unlink(missing_ok=True)
        self._cancel_path(job_id).unlink(missing_ok=True)
        self.markers.drop(job_id)

    def _prune(self, active_ids: set[str]) -> None:
        """Delete the oldest finished records beyond DSBA_JOB_HISTORY (opening only those)."""
        timed, legacy = record_ids(self.folder)
        finished = [job_id for job_id in timed + legacy if job_id not in active_ids]
        for job_id in finished[max(self.settings.job_history, 0) :]:
            job = self._read(job_id)
            # A job created this instant by another process is not marked yet: keep it.
            if job is not None and job["state"] not in ACTIVE:
                self._delete(job_id)

    def write(self, job: dict[str, Any]) -> None:
        """Replace a job's record atomically; a finished job loses its active marker."""
        atomic_write_json(self._path(job["id"]), job)
        if job["state"] not in ACTIVE:
            self.markers.drop(job["id"])
            self._cancel_path(job["id"]).unlink(missing_ok=True)

    def get(self, job_id: str) -> dict[str, Any]:
        """A job's record, marked failed if its process has died."""
        path = self._path(job_id)
        try:
            job = read_json(path)
        except FileNotFoundError as exc:
            raise NotFound(f"no job {job_id!r}", {"job_id": job_id}) from exc
        job = self._reap(job)
        if job["state"] in ACTIVE and self.cancel_requested(job_id):
            job["cancel_requested"] = True
        return job

    def _read(self, job_id: str) -> dict[str, Any] | None:
        try:
            return read_json(self._path(job_id))
        except (OSError, ValueError):
            return None  # gone, or being replaced right now; it will be back next time

    def _read_newest(self, ids: list[str], limit: int | None) -> list[dict[str, Any]]:
        jobs = []
        for job_id in ids:
            if limit is not None and len(jobs) >= limit:
                break
            job = self._read(job_id)
            if job is not None:
                jobs.append(self._reap(job))
        return jobs

    def list(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """The most recent jobs, newest first (all of them when limit is None)."""
        timed, legacy = record_ids(self.folder)
        jobs = self._read_newest(timed, limit)
        if legacy and (limit is None or len(jobs) < limit):
            older = self._read_newest(legacy, None)
            jobs += sorted(older, key=lambda job: job["created_at"], reverse=True)
        return jobs[:limit]

    def active(self) -> list[dict[str, Any]]:
        """The queued and running jobs, opening only the records marked as possibly active."""
        ids = self.markers.ids()
        if ids is None:
            return self._mark_older_records()
        jobs = []
        for job_id in ids:
            job = self._read(job_id)
            if job is not None:
                job = self._reap(job)
            if job is None and self._path(job_id).exists():
                continue  # being replaced: still marked, counted next time
            if job is not None and job["state"] in ACTIVE:
                jobs.append(job)
            else:
                self.markers.drop(job_id)
        return jobs

    def count_by_state(self) -> dict[str, int]:
        """Active jobs by state (queued, running), from the marked records only."""
        counts = dict.fromkeys(ACTIVE, 0)
        for job in self.active():
            counts[job["state"]] += 1
        return counts

    def count_finished(self) -> dict[str, int]:
        """Finished jobs by state, reading only records this store object has not seen end."""
        timed, legacy = record_ids(self.folder)
        ids = {*timed, *legacy}
        self._finished = {i: state for i, state in self._finished.items() if i in ids}
        for job_id in ids - set(self.markers.ids() or ()) - self._finished.keys():
            job = self._read(job_id)
            if job is not None and job["state"] not in ACTIVE:
                self._finished[job_id] = job["state"]
        counts = {state: 0 for state in STATES if state not in ACTIVE}
        for state in self._finished.values():
            counts[state] += 1
        return counts

    def _mark_older_records(self) -> list[dict[str, Any]]:
        """Mark the active jobs of a store written before markers existed (once); return them."""
        timed, legacy = record_ids(self.folder)
        jobs = self._read_newest(timed + legacy, None)
        active = [job for job in jobs if job["state"] in ACTIVE]
        for job in active:
            self.markers.add(job["id"])
        self._finished.update((job["id"], job["state"]) for job in jobs if job not in active)
        self.markers.folder.mkdir(parents=True, exist_ok=True)
        return active

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask a queued or running job to stop; its runner ends it as cancelled."""
        job = self.get(job_id)
        if job["state"] not in ACTIVE:
            raise Conflict(
                f"job {job_id} has already ended ({job['state']}); only a queued or running job "
                "can be cancelled",
                {"job_id": job_id, "state": job["state"]},
            )
        self._cancel_path(job_id).touch()
        log.info("job cancel requested", extra={"event": "job_cancel_requested", "job_id": job_id})
        # A runner that died meanwhile leaves nobody to honour the request: reap it now.
        return self.get(job_id)

    def delete(self, job_id: str) -> dict[str, Any]:
        """Remove a finished job's record from the list; an active job must be cancelled first."""
        job = self.get(job_id)
        if job["state"] in ACTIVE:
            raise Conflict(
                f"job {job_id} is {job['state']}; cancel it first, then remove it when it has "
                "ended",
                {"job_id": job_id, "state": job["state"]},
            )
        self._delete(job_id)
        log.info("job deleted", extra={"event": "job_deleted", "job_id": job_id})
        return {"deleted": job_id}

    def cancel_requested(self, job_id: str) -> bool:
        """True once someone asked this job to stop."""
        return self._cancel_path(job_id).exists()

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
        if not reason:
            return job
        # The runner may have written its final state and exited between our read and the
        # check: read again, now that it can no longer write, and keep what it wrote.
        latest = self._read(job["id"])
        if latest is None or latest["state"] not in ACTIVE:
            return latest or job
        if self.cancel_requested(job["id"]):
            latest.update(state=CANCELLED, error=CANCELLED_MESSAGE, finished_at=utc_now())
        else:
            latest.update(state=FAILED, error=reason, finished_at=utc_now())
        self.write(latest)
        return latest


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


def start_job(
    settings: Settings, request: dict[str, Any], progress: dict[str, int] | None = None
) -> dict[str, Any]:
    """Record a job and launch its process (training or scoring), detached from this one."""
    store = JobStore(settings)
    job = store.create(request, progress)
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
