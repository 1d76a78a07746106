"""Start training jobs and follow them."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from dsba.data.ingestion import read_source
from dsba.data.schema import MIN_ROWS_FOR_ID_CHECK
from dsba.errors import InvalidInput
from dsba.jobs.job_store import start_job
from dsba.model.params import validate_params
from dsba.registry.refs import validate_name
from webapp.api.fastjson import Blueprint
from webapp.api.schemas import JobSchema, TrainRequestSchema, documents_errors
from webapp.state import AppState, state

bp = Blueprint("jobs", __name__, description="Training jobs")


def _check_target(profile: dict[str, Any], target: str) -> None:
    """Refuse a target that is absent or has a single class now, not minutes later in a job."""
    columns = {c["name"]: c for c in profile["columns"]}
    if target not in columns:
        raise InvalidInput(
            f"target column {target!r} not found; columns are: {', '.join(columns)}",
            {"target": target},
        )
    distinct = columns[target].get("distinct", 2)
    if distinct < 2:
        what = "no values" if distinct == 0 else "a single class"
        raise InvalidInput(
            f"target column {target!r} has {what}; a classifier needs at least two",
            {"target": target},
        )


def _unusable(column: dict[str, Any], rows: int, max_categories: int) -> str | None:
    """Why infer_schema will drop this column, judged from the profile (None: it is usable)."""
    distinct = column.get("distinct", 0)
    categorical = column.get("kind") == "categorical"
    if column.get("missing", 0) >= rows:
        return "empty: every value is missing"
    if distinct <= 1:
        return "constant: a single value"
    if categorical and distinct == rows and rows >= MIN_ROWS_FOR_ID_CHECK:
        return "ID-like: a different value on every row"
    if categorical and distinct > max_categories:
        return f"too many categories: {distinct} distinct values (limit {max_categories})"
    return None


def _check_features(profile: dict[str, Any], target: str, max_categories: int) -> None:
    """Refuse a dataset that would leave no feature column, before a job is started for it."""
    reasons = {
        c["name"]: _unusable(c, profile["rows"], max_categories)
        for c in profile["columns"]
        if c["name"] != target
    }
    if reasons and all(reasons.values()):
        listed = "; ".join(f"{name}: {why}" for name, why in reasons.items())
        raise InvalidInput(f"no usable feature columns remain ({listed})", {"dropped": reasons})
    if not reasons:
        raise InvalidInput("the dataset has no column besides the target")


def submit_training(app_state: AppState, request: dict[str, Any]) -> dict[str, Any]:
    """Validate a training request, store its data, and start a job for it."""
    validate_name(request["name"])
    params = validate_params(request.get("params"))
    dataset_id = request.get("dataset_id")
    if dataset_id:
        profile = app_state.datasets.get(dataset_id)
    else:
        # URLs and data-folder paths are fetched here so policy errors are the caller's 4xx.
        dataset = read_source(
            request["source"], app_state.settings, root=app_state.settings.data_root
        )
        profile = app_state.datasets.save(dataset)
    _check_target(profile, request["target"])
    _check_features(profile, request["target"], app_state.settings.max_categories)
    app_state.service.check_training(profile["id"], request.get("optimize"))
    job_request = {
        "dataset_id": profile["id"],
        "dataset": profile.get("filename"),
        "target": request["target"],
        "name": request["name"],
        # What the user chose, plus the round count the progress bar counts against.
        "params": {k: params[k] for k in (request.get("params") or {})}
        | {"n_estimators": params["n_estimators"]},
        "test_size": request.get("test_size", 0.2),
        "seed": request.get("seed", 42),
    }
    if request.get("optimize"):
        job_request["optimize"] = request["optimize"]
    return start_job(app_state.settings, job_request)


@bp.route("/train")
class Train(MethodView):
    """Training."""

    @bp.arguments(TrainRequestSchema())
    @bp.response(202, JobSchema)
    @documents_errors(bp, 400, 403, 404, 409, 413)
    def post(self, body):
        """Start training a model; poll the returned job for progress and the result."""
        return submit_training(state(), body)


@bp.route("/jobs")
class Jobs(MethodView):
    """The job list."""

    @bp.response(200, JobSchema(many=True))
    def get(self):
        """List recent training jobs, newest first."""
        return state().jobs.list()


@bp.route("/jobs/<job_id>")
class JobItem(MethodView):
    """One job."""

    @bp.response(200, JobSchema)
    @documents_errors(bp, 404)
    def get(self, job_id):
        """Show a job's state, progress, and its model or error."""
        return state().jobs.get(job_id)


@bp.route("/jobs/<job_id>/cancel")
class JobCancel(MethodView):
    """Stopping a job."""

    @bp.response(202, JobSchema)
    @documents_errors(bp, 404, 409)
    def post(self, job_id):
        """Cancel a queued or running job: it ends cancelled and registers no model."""
        return state().jobs.cancel(job_id)
