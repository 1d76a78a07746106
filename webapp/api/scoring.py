"""Score a big file in the background: start a job with the file, then download its result."""

from __future__ import annotations

from flask import send_file
from flask.views import MethodView

from dsba.errors import NotFound
from dsba.jobs.job_store import SUCCEEDED
from dsba.jobs.scoring import SCORE, start_scoring
from dsba.jobs.scoring_files import ScoringFiles
from dsba.registry.refs import parse_ref
from webapp.api.fastjson import Blueprint
from webapp.api.schemas import JobSchema, ScoreFileSchema, UploadSchema, documents_errors
from webapp.auth import may_write
from webapp.state import state

bp = Blueprint("scoring", __name__, description="Scoring files of any size as background jobs")


@bp.route("/score")
class ScoreFile(MethodView):
    """Scoring a file."""

    @bp.arguments(UploadSchema(), location="files")
    @bp.arguments(ScoreFileSchema(), location="form")
    @bp.response(202, JobSchema)
    @documents_errors(bp, 400, 404, 409, 413)
    def post(self, files, form):
        """Start scoring a CSV, Parquet or JSON-lines file; poll the job, then get /scored.

        The first rows are checked before the job starts: a file the model cannot read is
        refused here. A file with the target column also gets the metrics on it.
        """
        upload = files["file"]
        return start_scoring(
            state().service,
            form["model"],
            upload.stream,
            upload.filename or "",
            explain=form.get("explain", False),
            feedback=may_write(),  # recording true labels is a writer's action
        )


@bp.route("/jobs/<job_id>/scored")
class ScoredFile(MethodView):
    """A scoring job's result."""

    @bp.response(200, content_type="text/csv")
    @documents_errors(bp, 404)
    def get(self, job_id):
        """Download the scored CSV of a finished scoring job (streamed)."""
        job = state().jobs.get(job_id)
        request = job.get("request", {})
        if request.get("kind") != SCORE or job["state"] != SUCCEEDED:
            raise NotFound(
                f"job {job_id} has no scored file (state: {job['state']})", {"job_id": job_id}
            )
        path = ScoringFiles(state().settings.registry_dir).scored(request["input"])
        ref = parse_ref(request["model"])
        return send_file(
            path,
            mimetype="text/csv",
            as_attachment=True,
            download_name=f"{ref.name}-v{ref.version}-scored.csv",
            max_age=0,
        )
