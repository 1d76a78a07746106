"""Follow a training job until its model is ready."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for

from dsba.errors import Conflict
from dsba.jobs.job_store import ACTIVE
from dsba.registry.refs import parse_ref
from webapp.pages import bp
from webapp.pages.forms import CancelJobForm
from webapp.pages.scoring import is_scoring, scoring_page
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
    if is_scoring(record):
        return scoring_page(record)
    progress = record.get("progress") or {}
    total = progress.get("total") or 0
    percent = min(100, round(100 * progress.get("round", 0) / total)) if total else 0
    return render_template(
        "pages/job.html",
        job=record,
        active=record["state"] in ACTIVE,
        percent=100 if record.get("state") == "succeeded" else percent,
        model_url=model_url(record),
        cancel_form=CancelJobForm(),
    )


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    """Cancel a queued or running job, then show it again."""
    if not CancelJobForm().validate_on_submit():
        abort(400)
    try:
        state().jobs.cancel(job_id)
    except Conflict as error:
        flash(f"Nothing to cancel: {error.message}", "warning")
    else:
        record = state().jobs.get(job_id)
        what = (
            "scoring stops after its current rows"
            if is_scoring(record)
            else "training stops at its next boosting round"
        )
        flash(f"Cancelling: {what}.", "info")
    return redirect(url_for("pages.job", job_id=job_id))
