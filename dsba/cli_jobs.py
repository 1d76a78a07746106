"""dsba jobs: list training jobs and cancel one, locally or --remote."""

from __future__ import annotations

from typing import Any

import click

from dsba.cli_options import Context, DsbaGroup


def job_line(job: dict[str, Any]) -> str:
    """One job as a line: id, state, model or error, progress."""
    request = job.get("request") or {}
    progress = job.get("progress") or {}
    outcome = job.get("model") or job.get("error") or ""
    if job.get("cancel_requested"):
        outcome = "cancel requested"
    # A scoring job counts rows (and has a result, not a model of its own); a search, trials.
    unit = "rows" if "rows" in progress else "trial" if "trial" in progress else "round"
    if progress.get("total", 0) is None:  # a search by time alone: no count of trials to do
        progress = {**progress, "total": "?"}
    if unit == "rows" and job.get("state") == "succeeded":
        outcome = f"scored {request.get('filename') or 'a file'} with {job.get('model')}"
    return (
        f"{job['id']}  {job['state']:<9} {request.get('name', '?')}  "
        f"{unit} {progress.get(unit, 0)}/{progress.get('total', 0)}  {outcome}"
    ).rstrip()


@click.group(cls=DsbaGroup)
def jobs() -> None:
    """List training jobs, cancel them, and remove finished ones.

    \b
    Example:
      dsba jobs list --json
    """


@jobs.command("list")
@click.pass_obj
def jobs_list(obj: Context) -> None:
    """List recent training jobs, newest first.

    \b
    Example:
      dsba jobs list --remote http://host:8000 --token $DSBA_TOKEN
    """
    rows = obj.service.jobs()
    obj.emit(rows, "\n".join(job_line(job) for job in rows) or "no jobs yet")


@jobs.command("cancel")
@click.argument("job_id")
@click.pass_obj
def jobs_cancel(obj: Context, job_id: str) -> None:
    """Cancel the queued or running job JOB_ID: it stops and registers no model.

    \b
    Example:
      dsba jobs cancel 019ac2d4e5f67a3c9b1d0e8f2a4b6c8d
    """
    job = obj.service.cancel_job(job_id)
    obj.emit(job, job_line(job))


@jobs.command("delete")
@click.argument("job_id")
@click.pass_obj
def jobs_delete(obj: Context, job_id: str) -> None:
    """Remove the finished job JOB_ID from the list (cancel an active one first).

    \b
    Example:
      dsba jobs delete 019ac2d4e5f67a3c9b1d0e8f2a4b6c8d
    """
    obj.emit(obj.service.delete_job(job_id), f"deleted job {job_id}")
