"""Follow a training job until its model is ready."""

from __future__ import annotations

from flask import render_template, url_for

from dsba.jobs import ACTIVE
from dsba.refs import parse_ref
from webapp.pages import bp
from webapp.state import state


def model_url(job: dict) -> str | None:
    """The model page of a finished job's version."""
    if not job.get("model"):
        return None
    ref = parse_ref(job["model"])
    return url_for("pages.model", name=ref.name, version=ref.version)


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """Show a job's state and progress; the page's script follows it live."""
    record = state().jobs.get(job_id)
    progress = record.get("progress") or {}
    total = progress.get("total") or 0
    percent = min(100, round(100 * progress.get("round", 0) / total)) if total else 0
    return render_template(
        "pages/job.html",
        job=record,
        active=record["state"] in ACTIVE,
        percent=100 if record.get("state") == "succeeded" else percent,
        model_url=model_url(record),
    )
