"""Comparing versions, and removing aliases, whole models and datasets from the pages."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from dsba.errors import Conflict, DsbaError, InvalidInput
from webapp.pages import bp
from webapp.pages.forms import ConfirmForm
from webapp.pages.models import aliases_by_version
from webapp.state import state


@bp.get("/models/<name>/compare")
def compare(name: str):
    """Versions side by side: ?versions=1&versions=2 (the checkboxes) or ?versions=1,2."""
    wanted = ",".join(request.args.getlist("versions"))
    try:
        compared = state().service.compare(name, wanted)
    except InvalidInput as error:
        state().service.registry.list_versions(name)  # an unknown model is a 404 instead
        flash(f"Nothing to compare: {error.message}. Tick two or more versions.", "warning")
        return redirect(url_for("pages.model", name=name))
    aliases = aliases_by_version(state().service.registry.get_aliases(name))
    return render_template("pages/compare.html", name=name, c=compared, aliases=aliases)


@bp.post("/models/<name>/aliases/<alias>/remove")
def remove_alias(name: str, alias: str):
    """Remove an alias; the versions it pointed at stay."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        state().service.delete_alias(name, alias)
    except DsbaError as error:
        flash(f"The alias was not removed: {error.message}", "danger")
    else:
        flash(f"Removed {name}@{alias}; clients using it now get an error.", "success")
    return redirect(url_for("pages.model", name=name))


@bp.get("/models/<name>/delete")
def confirm_delete_model(name: str):
    """Ask before deleting a whole model, naming its versions and aliases."""
    service = state().service
    return render_template(
        "pages/confirm_delete_model.html",
        name=name,
        versions=service.registry.list_versions(name),
        aliases=service.registry.get_aliases(name),
        form=ConfirmForm(),
    )


@bp.post("/models/<name>/delete")
def delete_model(name: str):
    """Delete every version and alias of a model."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        result = state().service.delete_model(name)
    except Conflict as error:
        flash(f"{name} was not deleted: {error.message}", "danger")
        return redirect(url_for("pages.model", name=name))
    count = len(result["versions"])
    flash(f"Deleted the model {name} ({count} version{'s' if count > 1 else ''}).", "success")
    return redirect(url_for("pages.home"))


@bp.get("/datasets/<dataset_id>/delete")
def confirm_delete_dataset(dataset_id: str):
    """Ask before deleting a dataset."""
    profile = state().datasets.get(dataset_id)
    users = [
        job
        for job in state().jobs.active()
        if (job.get("request") or {}).get("dataset_id") == profile["id"]
    ]
    return render_template(
        "pages/confirm_delete_dataset.html", profile=profile, users=users, form=ConfirmForm()
    )


@bp.post("/datasets/<dataset_id>/delete")
def delete_dataset(dataset_id: str):
    """Delete a dataset; refused while a queued or running job trains on it."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        result = state().service.delete_dataset(dataset_id)
    except Conflict as error:
        flash(f"The dataset was not deleted: {error.message}", "danger")
        return redirect(url_for("pages.confirm_delete_dataset", dataset_id=dataset_id))
    flash(f"Deleted the dataset {result['filename'] or result['deleted']}.", "success")
    return redirect(url_for("pages.home"))
