"""Follow a training job until its model is ready."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask.wrappers import Response

from dsba.errors import Conflict, NotFound
from dsba.jobs.job_store import ACTIVE
from dsba.registry.refs import parse_ref
from webapp.pages import bp
from webapp.pages.forms import CancelJobForm
from webapp.pages.scoring import is_scoring, scoring_page
from webapp.pages.search_fields import METRIC_LABELS
from webapp.pages.search_view import is_search, search_percent, search_status
from webapp.state import state

# The jobs this browser started, newest first: the forms it comes back to name them.
SESSION_JOBS = "jobs"
REMEMBERED_JOBS = 5
# Pages whose form starts a job: Back must not show them as they were before it started.
FORM_PAGES = {"pages.train", "pages.dataset"}


def remember_job(job_id: str) -> None:
    """Note a job this browser session started."""
    earlier = [other for other in session.get(SESSION_JOBS, []) if other != job_id]
    session[SESSION_JOBS] = [job_id, *earlier][:REMEMBERED_JOBS]


def running_jobs() -> list[dict]:
    """The jobs this browser session started that are still queued or running."""
    store = state().jobs
    running = []
    for job_id in session.get(SESSION_JOBS, []):
        try:
            job = store.get(job_id)
        except NotFound:  # pruned from the history, or an id from another store
            continue
        if job["state"] in ACTIVE:
            running.append(job)
    return running


@bp.context_processor
def jobs_of_this_session() -> dict:
    """Let a page list the session's running jobs (read only where a template asks)."""
    return {"running_jobs": running_jobs}


@bp.after_request
def fresh_forms(response: Response) -> Response:
    """Have Back reload a form page (not the browser's copy), so it shows a job it started."""
    if request.endpoint in FORM_PAGES:
        response.headers["Cache-Control"] = "no-store"
    return response


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
    request_ = record.get("request") or {}
    searching = is_search(progress)
    if searching:
        percent = search_percent(progress, request_.get("time_budget"))
    return render_template(
        "pages/job.html",
        job=record,
        search_asked=request_.get("time_budget") is not None or request_.get("trials") is not None,
        search_line=search_status(progress) if searching else None,
        metric_labels=METRIC_LABELS,
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
        asked = record.get("request") or {}
        if is_scoring(record):
            what = "scoring stops after its current rows"
        elif is_search(record.get("progress") or {}):
            what = f"the search for {asked.get('name')} stops after its current trial"
        else:
            what = "training stops at its next boosting round"
        flash(f"Cancelling: {what}.", "info")
    return redirect(url_for("pages.job", job_id=job_id))


@bp.post("/jobs/<job_id>/delete")
def delete_job(job_id: str):
    """Remove a finished job from the list, then show the models page."""
    if not CancelJobForm().validate_on_submit():
        abort(400)
    try:
        state().jobs.delete(job_id)
    except Conflict as error:
        flash(f"Not removed: {error.message}", "warning")
        return redirect(url_for("pages.job", job_id=job_id))
    flash("The job was removed from the list.", "info")
    return redirect(url_for("pages.home"))
