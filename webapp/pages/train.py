"""Upload a dataset, read its profile, and start training on it."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from dsba.data.ingestion import read_source, read_upload
from dsba.data.profile import column_notes
from dsba.data.schema import NUMERIC
from dsba.data.target import CLASSIFICATION, MAX_CLASSES, REGRESSION, infer_task
from dsba.errors import DsbaError
from webapp.api.jobs import submit_training
from webapp.pages import bp
from webapp.pages.formatting import model_name_from
from webapp.pages.forms import UploadForm
from webapp.pages.jobs import remember_job
from webapp.pages.train_form import DatasetTrainForm, dataset_train_form
from webapp.state import state


@bp.route("/train", methods=["GET", "POST"])
def train():
    """Upload a data file (or fetch a URL) and go to its dataset page."""
    form = UploadForm()
    if form.validate_on_submit():
        app_state = state()
        try:
            if form.file.data:
                upload = form.file.data
                dataset = read_upload(upload.stream, upload.filename, app_state.settings)
                profile = app_state.datasets.save(dataset, upload.filename)
            else:
                settings = app_state.settings
                dataset = read_source(form.url.data.strip(), settings, root=settings.data_root)
                profile = app_state.datasets.save(dataset)
        except DsbaError as error:
            flash(f"The data could not be read: {error.message}", "danger")
        else:
            flash(
                f"Stored {profile['filename']}: {profile['rows']:,} rows, "
                f"{len(profile['columns'])} columns. Pick the target and train.",
                "success",
            )
            return redirect(url_for("pages.dataset", dataset_id=profile["id"]))
    status = 400 if request.method == "POST" else 200
    return render_template("pages/train.html", form=form), status


def _start_from(form: DatasetTrainForm) -> None:
    """Fill the form from ?from=<name:version> (Retrain) or ?job=<id> (Try again)."""
    app_state = state()
    try:
        if request.args.get("job"):
            job = app_state.jobs.get(request.args["job"])
            earlier = job["request"]
            form.fill(earlier["target"], earlier["name"], earlier)
        elif request.args.get("from"):
            meta = app_state.service.metadata(request.args["from"])
            form.fill(meta["target"], meta["name"], {**meta, **(meta.get("columns") or {})})
    except DsbaError as error:
        flash(f"The earlier settings could not be read: {error.message}", "warning")


def _integer_dtype(dtype: str) -> bool:
    return dtype.lower().startswith(("int", "uint"))


def inferred_tasks(profile: dict[str, Any]) -> dict[str, str]:
    """The task training would infer for each column as the target (infer_task's rule).

    The profile settles most columns: text and booleans are classes, integers are classes up
    to MAX_CLASSES values, many distinct floats are a quantity. Only numeric columns with few
    distinct values and no integer type are read, to see whether they hold fractions.
    """
    tasks, unsettled = {}, []
    for column in profile["columns"]:
        name, dtype = column["name"], column.get("dtype", "")
        if column.get("kind") != NUMERIC:
            tasks[name] = CLASSIFICATION
        elif _integer_dtype(dtype):
            tasks[name] = REGRESSION if column.get("distinct", 0) > MAX_CLASSES else CLASSIFICATION
        elif dtype.lower().startswith("float") and column.get("distinct", 0) > MAX_CLASSES:
            tasks[name] = REGRESSION
        else:
            unsettled.append(name)
    datasets = state().datasets
    tasks |= {name: infer_task(datasets.column(profile["id"], name)) for name in unsettled}
    return {column["name"]: tasks[column["name"]] for column in profile["columns"]}


@bp.route("/datasets/<dataset_id>", methods=["GET", "POST"])
def dataset(dataset_id: str):
    """Show a dataset's profile; on POST start training on it and go to the job."""
    app_state = state()
    profile = app_state.datasets.get(dataset_id)
    form = dataset_train_form(profile, column_notes(profile, app_state.settings.max_categories))
    if request.method == "GET":
        form.name.data = model_name_from(profile.get("filename"))
        _start_from(form)
    if form.validate_on_submit():
        exclude, kinds = form.choices()
        try:
            job = submit_training(
                app_state,
                {
                    "dataset_id": profile["id"],
                    "target": form.target.data,
                    "name": form.name.data,
                    "params": form.params(),
                    **form.task_options(),
                    "test_size": form.test_size.data,
                    "seed": form.seed.data,
                    "exclude": exclude,
                    "kinds": kinds,
                    **form.search_options(),
                },
            )
        except DsbaError as error:
            if not form.show_error(error.errors, error.message):
                flash(f"Training could not start: {error.message}", "danger")
        else:
            remember_job(job["id"])
            flash(f"Training {form.name.data} to predict {form.target.data}.", "info")
            return redirect(url_for("pages.job", job_id=job["id"]))
    status = 400 if request.method == "POST" else 200
    # After a refusal the settings stay open, showing the values that were sent.
    advanced_open = request.method == "POST" or form.advanced_changed()
    tasks = inferred_tasks(profile)
    return render_template(
        "pages/dataset.html", profile=profile, form=form, advanced_open=advanced_open, tasks=tasks
    ), status
