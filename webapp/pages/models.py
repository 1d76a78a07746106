"""A model's page: metrics and plots of one version, all versions, aliases, deletion."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from wtforms import SelectChoice

from dsba.errors import DsbaError, InvalidInput, NotFound
from dsba.registry.compare import metric_changes, metric_label
from dsba.registry.refs import ModelRef
from webapp.pages import bp
from webapp.pages.charts import chart_data, decision_data, heat_map
from webapp.pages.forms import (
    AliasForm,
    CanaryDecisionForm,
    CanaryForm,
    ConfirmForm,
    DeleteVersionForm,
    ThresholdForm,
)
from webapp.pages.regression import (
    METHOD_NAMES,
    interval_summary,
    is_regression,
    metric_cards,
    regression_chart_data,
    version_columns,
)
from webapp.pages.search_view import leaderboard, search_summary
from webapp.state import state


def requested_ref(name: str) -> str:
    """name:version from the URL and ?version=, or the bare name (latest); 404 if malformed."""
    raw = request.args.get("version", "")
    try:
        return str(ModelRef(name, int(raw) if raw else None))
    except (InvalidInput, ValueError):
        abort(404)


def aliases_by_version(aliases: dict[str, Any]) -> dict[int, list[str]]:
    """Alias names per version; a split alias is listed on each of its versions with its share."""
    result: dict[int, list[str]] = {}
    for alias, target in sorted(aliases.items()):
        if isinstance(target, dict):
            total = sum(target.values()) or 1
            for version, weight in target.items():
                result.setdefault(int(version), []).append(f"{alias} {weight / total:.0%}")
        else:
            result.setdefault(int(target), []).append(alias)
    return result


def version_choices(versions: Iterable[int]) -> list[SelectChoice]:
    """Options of a version select: value 3, label "v3"."""
    return [SelectChoice(str(version), f"v{version}") for version in versions]


def _dataset_id(metadata: dict[str, Any]) -> str | None:
    """The stored dataset a version was trained on, if it is still in the store."""
    sha = (metadata.get("dataset") or {}).get("sha256") or ""
    try:
        return state().datasets.get(sha[:16])["id"]
    except NotFound:
        return None


def _versions(name: str) -> list[dict[str, Any]]:
    registry = state().service.registry
    rows = []
    for version in reversed(registry.list_versions(name)):
        try:
            rows.append(registry.get_metadata(f"{name}:{version}"))
        except NotFound:
            continue  # deleted while we were listing
    return rows


def _previous(versions: list[dict[str, Any]], version: int) -> dict[str, Any] | None:
    """The newest version older than this one (versions are newest first)."""
    return next((row for row in versions if row["version"] < version), None)


def render_model(name: str, alias_form: AliasForm | None = None, status: int = 200):
    """The model page of the requested version; alias_form carries a refused submission."""
    registry = state().service.registry
    metadata = registry.get_metadata(requested_ref(name))
    versions = _versions(name)
    choices = version_choices(v["version"] for v in versions)
    if alias_form is None:
        alias_form = AliasForm()
        alias_form.version.data = metadata["version"]
    alias_form.version.choices = choices
    canary_form = CanaryForm()
    canary_form.stable.choices = canary_form.canary.choices = choices
    if len(versions) > 1:
        canary_form.canary.data, canary_form.stable.data = (v["version"] for v in versions[:2])
    aliases = registry.get_aliases(name)
    previous = _previous(versions, metadata["version"])
    regression = is_regression(metadata)
    search = metadata.get("search")
    page = render_template(
        "pages/model.html",
        regression=regression,
        cards=metric_cards(metadata) if regression else [],
        intervals=interval_summary(metadata) if regression else None,
        interval_methods=METHOD_NAMES,
        columns=version_columns(versions),
        name=name,
        meta=metadata,
        schema=registry.get_schema(f"{name}:{metadata['version']}"),
        versions=versions,
        aliases=aliases_by_version(aliases),
        alias_targets=aliases,
        splits={a: t for a, t in sorted(aliases.items()) if isinstance(t, dict)},
        canary_form=canary_form,
        decision_form=CanaryDecisionForm(),
        confirm_form=ConfirmForm(),
        heat_rows=heat_map((metadata.get("evaluation") or {}).get("confusion_matrix")),
        charts=regression_chart_data(metadata) if regression else chart_data(metadata),
        decision=None if regression else decision_data(metadata),
        search=search_summary(search) if search else None,
        leaderboard=leaderboard(search) if search else [],
        threshold_form=ThresholdForm(threshold=(metadata.get("threshold") or 0.5)),
        dataset_id=_dataset_id(metadata),
        alias_form=alias_form,
        delete_form=DeleteVersionForm(),
        previous=previous,
        changes=metric_changes(metadata, previous),
        labels={key: metric_label(key, metadata) for key in metadata.get("metrics") or {}},
    )
    return page, status


@bp.get("/models/<name>")
def model(name: str):
    """Show one version (the latest unless ?version=N) and the list of versions."""
    return render_model(name)


@bp.post("/models/<name>/aliases")
def set_alias(name: str):
    """Point an alias at a version; a refusal shows next to the field, on the model page."""
    versions = state().service.registry.list_versions(name)
    form = AliasForm()
    form.version.choices = version_choices(versions)
    if not form.validate_on_submit():
        return render_model(name, form, 400)
    try:
        state().service.set_alias(name, form.alias.data, form.version.data)
    except DsbaError as error:
        form.alias.errors = [error.message]
        return render_model(name, form, 400)
    flash(f"{name}@{form.alias.data} now points at version {form.version.data}.", "success")
    return redirect(url_for("pages.model", name=name, version=form.version.data))


@bp.post("/models/<name>/versions/<int:version>/threshold")
def set_threshold(name: str, version: int):
    """Save a new version with the same booster and the chosen threshold, and show it."""
    form = ThresholdForm()
    if not form.validate_on_submit():
        problems = "; ".join(e[0] for e in form.errors.values())
        flash(f"No version was saved: {problems}", "danger")
        return redirect(url_for("pages.model", name=name, version=version))
    try:
        meta = state().service.set_threshold(f"{name}:{version}", form.threshold.data)
    except DsbaError as error:
        flash(f"No version was saved: {error.message}", "danger")
        return redirect(url_for("pages.model", name=name, version=version))
    flash(
        f"Saved {name} v{meta['version']}: the booster of v{version} with threshold "
        f"{meta['threshold']:g}. Point an alias at v{meta['version']} to serve it.",
        "success",
    )
    return redirect(url_for("pages.model", name=name, version=meta["version"]))


@bp.post("/models/<name>/canary")
def set_canary(name: str):
    """Split an alias between a stable and a canary version by percentage."""
    form = CanaryForm()
    form.stable.choices = form.canary.choices = version_choices(
        state().service.registry.list_versions(name)
    )
    if not form.validate_on_submit() or form.stable.data == form.canary.data:
        problems = "; ".join(f"{form[f].label.text}: {e[0]}" for f, e in form.errors.items())
        flash(f"The split was not set. {problems or 'Pick two different versions.'}", "danger")
        return redirect(url_for("pages.model", name=name))
    weights = {form.stable.data: 100 - form.percent.data, form.canary.data: form.percent.data}
    try:
        state().service.set_alias_split(name, form.alias.data, weights)
    except DsbaError as error:
        flash(f"The split was not set: {error.message}", "danger")
    else:
        flash(
            f"{name}@{form.alias.data} now sends {form.percent.data}% of requests to "
            f"v{form.canary.data} and the rest to v{form.stable.data}.",
            "success",
        )
    return redirect(url_for("pages.model", name=name))


@bp.post("/models/<name>/aliases/<alias>/<any(promote, rollback):decision>")
def decide_canary(name: str, alias: str, decision: str):
    """Promote the canary of a split alias, or roll it back, in one action."""
    if not CanaryDecisionForm().validate_on_submit():
        abort(400)
    service = state().service
    try:
        result = (
            service.promote(name, alias) if decision == "promote" else service.rollback(name, alias)
        )
    except DsbaError as error:
        flash(f"Nothing changed: {error.message}", "danger")
    else:
        flash(f"{name}@{alias} now points at version {result['aliases'][alias]}.", "success")
    return redirect(url_for("pages.model", name=name))


@bp.get("/models/<name>/versions/<int:version>/delete")
def confirm_delete(name: str, version: int):
    """Ask before deleting a version (the page's modal does the same with scripts on)."""
    metadata = state().service.metadata(f"{name}:{version}")
    aliases = aliases_by_version(state().service.registry.get_aliases(name)).get(version, [])
    return render_template(
        "pages/confirm_delete.html",
        name=name,
        meta=metadata,
        aliases=aliases,
        form=DeleteVersionForm(),
    )


@bp.post("/models/<name>/versions/<int:version>/delete")
def delete_version(name: str, version: int):
    """Delete a version; its aliases go with it."""
    form = DeleteVersionForm()
    if not form.validate_on_submit():
        abort(400)
    state().service.delete(f"{name}:{version}")
    flash(f"Deleted {name} version {version}.", "success")
    try:
        state().service.registry.list_versions(name)
    except NotFound:
        return redirect(url_for("pages.home"))
    return redirect(url_for("pages.model", name=name))
