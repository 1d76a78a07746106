"""dsba jobs: list training jobs and cancel one, locally or --remote."""

from __future__ import annotations

from typing import Any

import click


def job_line(job: dict[str, Any]) -> str:
    """One job as a line: id, state, model or error, progress."""
    request = job.get("request") or {}
    progress = job.get("progress") or {}
    outcome = job.get("model") or job.get("error") or ""
    if job.get("cancel_requested"):
        outcome = "cancel requested"
    return (
        f"{job['id']}  {job['state']:<9} {request.get('name', '?')}  "
        f"round {progress.get('round', 0)}/{progress.get('total', 0)}  {outcome}"
    ).rstrip()


@click.group()
def jobs() -> None:
    """List training jobs and cancel them."""


@jobs.command("list")
@click.pass_obj
def jobs_list(obj: Any) -> None:
    """List recent training jobs, newest first."""
    rows = obj.service.jobs()
    obj.emit(rows, "\n".join(job_line(job) for job in rows) or "no jobs yet")


@jobs.command("cancel")
@click.argument("job_id")
@click.pass_obj
def jobs_cancel(obj: Any, job_id: str) -> None:
    """Cancel the queued or running job JOB_ID: it stops and registers no model."""
    job = obj.service.cancel_job(job_id)
    obj.emit(job, job_line(job))
