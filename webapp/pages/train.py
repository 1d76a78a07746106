"""Upload a dataset, read its profile, and start training on it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from wtforms import SelectChoice

from dsba.data.ingestion import read_source, read_upload
from dsba.errors import DsbaError
from webapp.api.jobs import submit_training
from webapp.pages import bp
from webapp.pages.formatting import model_name_from
from webapp.pages.forms import TrainForm, UploadForm
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


def _train_form(profile: dict) -> TrainForm:
    form = TrainForm()
    form.target.choices = [SelectChoice("", "Choose the column to predict…")] + [
        SelectChoice(column["name"]) for column in profile["columns"]
    ]
    if request.method == "GET":
        form.name.data = model_name_from(profile.get("filename"))
    return form


@bp.route("/datasets/<dataset_id>", methods=["GET", "POST"])
def dataset(dataset_id: str):
    """Show a dataset's profile; on POST start training on it and go to the job."""
    app_state = state()
    profile = app_state.datasets.get(dataset_id)
    form = _train_form(profile)
    if form.validate_on_submit():
        try:
            job = submit_training(
                app_state,
                {
                    "dataset_id": profile["id"],
                    "target": form.target.data,
                    "name": form.name.data,
                    "params": form.params(),
                    "test_size": form.test_size.data,
                    "seed": form.seed.data,
                    **(
                        {"optimize": form.optimize.data} if form.optimize.data != "accuracy" else {}
                    ),
                },
            )
        except DsbaError as error:
            flash(f"Training could not start: {error.message}", "danger")
        else:
            flash(f"Training {form.name.data} to predict {form.target.data}.", "info")
            return redirect(url_for("pages.job", job_id=job["id"]))
    status = 400 if request.method == "POST" else 200
    return render_template("pages/dataset.html", profile=profile, form=form), status
