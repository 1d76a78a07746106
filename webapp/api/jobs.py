"""Start training jobs and follow them."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from dsba.data.column_choices import check_choices, check_kind_values
from dsba.data.ingestion import read_source
from dsba.data.profile import unusable_reason
from dsba.data.schema import CATEGORICAL, IGNORE, target_task
from dsba.data.target import REGRESSION
from dsba.errors import InvalidInput
from dsba.jobs.job_store import start_job
from dsba.model.intervals import DEFAULT_INTERVAL, check_interval
from dsba.model.params import validate_params
from dsba.registry.refs import validate_name
from webapp.api.docs import TRAIN_DESCRIPTION, TRAIN_EXAMPLE
from webapp.api.fastjson import Blueprint
from webapp.api.schemas import DeletedSchema, JobSchema, TrainRequestSchema, documents_errors
from webapp.state import AppState, state

bp = Blueprint("jobs", __name__, description="Training jobs")


def _check_target(profile: dict[str, Any], target: str) -> None:
    """Refuse a target that is absent from the dataset."""
    columns = [c["name"] for c in profile["columns"]]
    if target not in columns:
        raise InvalidInput(
            f"target column {target!r} not found; columns are: {', '.join(columns)}",
            {"target": target},
        )


def _check_features(
    profile: dict[str, Any], target: str, max_categories: int, choices: tuple[list, dict]
) -> None:
    """Refuse a dataset that would leave no feature column, before a job is started for it."""
    exclude, kinds = choices
    reasons = {}
    for column in profile["columns"]:
        name = column["name"]
        if name == target:
            continue
        if name in exclude or kinds.get(name) == IGNORE:
            reasons[name] = "excluded: left out on request"
            continue
        reason = unusable_reason(column, profile["rows"], max_categories)
        if name in kinds and reason and not reason.startswith(("empty", "constant")):
            reason = None  # a chosen kind keeps an ID-like column; too many categories is rechecked
        reasons[name] = reason
    if reasons and all(reasons.values()):
        listed = "; ".join(f"{name}: {why}" for name, why in reasons.items())
        raise InvalidInput(f"no usable feature columns remain ({listed})", {"dropped": reasons})
    if not reasons:
        raise InvalidInput("the dataset has no column besides the target")


def _check_values(
    app_state: AppState, dataset_id: str, target: str, kinds: dict, task: str | None
) -> str:
    """Run dsba's own target check for the task, and read each column given a kind as that kind.

    Return the task the target trains as (task, or the one inferred when task is None).
    """
    forced = [name for name, kind in kinds.items() if kind not in (IGNORE, CATEGORICAL)]
    frame = app_state.datasets.load_columns(dataset_id, [target, *forced])
    labelled = frame[frame[target].notna()]
    task, _ = target_task(labelled[target], task)
    check_kind_values(labelled, kinds)
    return task


def submit_training(app_state: AppState, request: dict[str, Any]) -> dict[str, Any]:
    """Validate a training request, store its data, and start a job for it."""
    validate_name(request["name"])
    # The same parameter errors, first, as before regression: "objective" waits for the task.
    given = request.get("params") or {}
    validate_params({k: v for k, v in given.items() if k != "objective"})
    interval = check_interval(request.get("interval", DEFAULT_INTERVAL))
    dataset_id = request.get("dataset_id")
    if dataset_id:
        profile = app_state.datasets.get(dataset_id)
    else:
        # URLs and data-folder paths are fetched here so policy errors are the caller's 4xx.
        dataset = read_source(
            request["source"], app_state.settings, root=app_state.settings.data_root
        )
        profile = app_state.datasets.save(dataset)
    target = request["target"]
    _check_target(profile, target)
    columns = [c["name"] for c in profile["columns"]]
    choices = check_choices(columns, target, request.get("exclude"), request.get("kinds"))
    _check_features(profile, target, app_state.settings.max_categories, choices)
    if request.get("task"):
        # A parameter the asked-for task cannot take is refused before any data is read.
        validate_params(given, regression=request["task"] == REGRESSION)
    task = _check_values(app_state, profile["id"], target, choices[1], request.get("task"))
    params = validate_params(given, regression=task == REGRESSION)
    app_state.service.check_training(profile["id"], request.get("optimize"), params)
    job_request = {
        "dataset_id": profile["id"],
        "dataset": profile.get("filename"),
        "target": target,
        "name": request["name"],
        # What the user chose, plus the round count the progress bar counts against.
        "params": {k: params[k] for k in given} | {"n_estimators": params["n_estimators"]},
        "test_size": request.get("test_size", 0.2),
        "seed": request.get("seed", 42),
        "task": task,
    }
    exclude, kinds = choices
    if exclude:
        job_request["exclude"] = exclude
    if kinds:
        job_request["kinds"] = kinds
    if task == REGRESSION:
        job_request["interval"] = interval
    if request.get("optimize"):
        job_request["optimize"] = request["optimize"]
    return start_job(app_state.settings, job_request)


@bp.route("/train")
class Train(MethodView):
    """Training."""

    @bp.arguments(TrainRequestSchema(), example=TRAIN_EXAMPLE, description=TRAIN_DESCRIPTION)
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

    @bp.response(200, DeletedSchema)
    @documents_errors(bp, 404, 409)
    def delete(self, job_id):
        """Remove a finished job from the list; a queued or running one is refused (409)."""
        return state().jobs.delete(job_id)


@bp.route("/jobs/<job_id>/cancel")
class JobCancel(MethodView):
    """Stopping a job."""

    @bp.response(202, JobSchema)
    @documents_errors(bp, 404, 409)
    def post(self, job_id):
        """Cancel a queued or running job: it ends cancelled and registers no model."""
        return state().jobs.cancel(job_id)
