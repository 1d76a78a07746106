"""Files too big to score in one request: a background job, its progress, then its download."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, send_file, url_for
from werkzeug.datastructures import FileStorage

from dsba.errors import NotFound
from dsba.jobs.job_store import ACTIVE, SUCCEEDED
from dsba.jobs.scoring import SCORE, start_scoring
from dsba.jobs.scoring_files import ScoringFiles
from dsba.registry.refs import parse_ref
from webapp.auth import may_write
from webapp.pages import bp
from webapp.pages.forms import CancelJobForm
from webapp.state import state


def is_scoring(job: dict[str, Any]) -> bool:
    """Whether a job record is a scoring job's."""
    return job.get("request", {}).get("kind") == SCORE


def queue_scoring(ref: str, upload: FileStorage, explain: bool):
    """Stage the upload, start its job and go to the job's page."""
    upload.stream.seek(0)
    job = start_scoring(
        state().service,
        ref,
        upload.stream,
        upload.filename or "",
        explain=explain,
        feedback=may_write(),  # recording true labels is a writer's action
    )
    return redirect(url_for("pages.job", job_id=job["id"]))


def scoring_page(job: dict[str, Any]):
    """A scoring job: rows done out of the total while it runs, then what the file held."""
    request = job["request"]
    ref = parse_ref(request["model"])
    progress = job.get("progress") or {}
    total, done = progress.get("total") or 0, progress.get("rows") or 0
    summary = dict(job.get("result") or {})
    summary |= {"filename": request.get("filename"), "version": ref.version}
    summary["target"] = state().service.registry.load(request["model"]).schema["target"]
    return render_template(
        "pages/scoring_job.html",
        job=job,
        name=ref.name,
        version=ref.version,
        active=job["state"] in ACTIVE,
        done=done,
        total=total,
        percent=min(100, round(100 * done / total)) if total else 0,
        s=summary,
        download_url=url_for("pages.scoring_download", job_id=job["id"]),
        kept="a day",
        cancel_form=CancelJobForm(),
    )


@bp.get("/jobs/<job_id>/scored.csv")
def scoring_download(job_id: str):
    """Send a finished scoring job's file as a CSV download, streamed from the store."""
    job = state().jobs.get(job_id)
    if not is_scoring(job) or job["state"] != SUCCEEDED:
        raise NotFound("this job has no scored file")
    path = ScoringFiles(state().settings.registry_dir).scored(job["request"]["input"])
    ref = parse_ref(job["request"]["model"])
    return send_file(
        path,
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"{ref.name}-v{ref.version}-scored.csv",
        conditional=True,
        max_age=0,
    )
