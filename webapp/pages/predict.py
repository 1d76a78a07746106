"""Score one row from a form built from the schema, or a whole file."""

from __future__ import annotations

import io
from collections import Counter
from typing import IO, Any

from flask import Response, flash, g, redirect, render_template, request, url_for

from dsba.data.ingestion import parse_bytes
from dsba.data.limits import Limits
from dsba.data.schema import FeatureSchema
from dsba.data.scored_files import ScoredFiles
from dsba.errors import DsbaError, NotFound, TooLarge
from dsba.model.prediction import ID_COLUMN, ID_COLUMN_TAKEN
from dsba.model.regression_evaluation import value_summary
from webapp.pages import bp
from webapp.pages.forms import BatchForm, predict_form
from webapp.pages.models import requested_ref
from webapp.pages.ranges import feature_hints
from webapp.pages.regression import interval_bar, is_regression
from webapp.pages.scoring import queue_scoring
from webapp.state import state

TOP_CONTRIBUTIONS = 8


def _shown(value: Any) -> Any:
    """An input value as the user typed it: 217.0 becomes 217."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def explain(record: dict[str, Any], contributions: dict[str, float]) -> list[dict[str, Any]]:
    """The features that pushed the prediction most, with the input value and a bar width."""
    top = list(contributions.items())[:TOP_CONTRIBUTIONS]
    largest = max((abs(value) for _, value in top), default=0.0) or 1.0
    return [
        {
            "feature": feature,
            "value": _shown(record.get(feature)),
            "contribution": value,
            "width": round(100 * abs(value) / largest),
        }
        for feature, value in top
    ]


@bp.route("/models/<name>/predict", methods=["GET", "POST"])
def predict(name: str):
    """Show the one-row form; on POST show the label, probabilities and top contributions."""
    service = state().service
    metadata = service.metadata(requested_ref(name))
    ref = f"{name}:{metadata['version']}"
    schema = service.registry.get_schema(ref)
    form = predict_form(schema["features"])
    reference = service.reference(ref)
    result, explanation, warnings = None, [], []
    if form.validate_on_submit():
        record = form.record()
        try:
            scored = service.predict_records(
                ref, [record], contributions=True, source="form", request_id=g.get("request_id")
            )
        except DsbaError as error:
            flash(f"The row could not be scored: {error.message}", "danger")
        else:
            result = scored.records()[0]
            explanation = explain(record, result.get("contributions") or {})
            warnings = scored.warnings  # out-of-range values included (dsba.monitoring.ranges)
    status = 400 if request.method == "POST" and result is None else 200
    regression = is_regression(metadata)
    bar = None
    if regression and result and result.get("interval"):
        bar = interval_bar(result["value"], result["interval"], metadata)
    return render_template(
        "pages/predict.html",
        name=name,
        meta=metadata,
        regression=regression,
        coverage=(metadata.get("intervals") or {}).get("coverage"),
        bar=bar,
        schema=schema,
        form=form,
        batch_form=BatchForm(formdata=None),
        result=result,
        explanation=explanation,
        warnings=warnings,
        hints=feature_hints(schema["features"], reference),
    ), status


def score_file(ref: str, upload: IO[bytes], filename: str) -> tuple[bytes, dict[str, Any]]:
    """Score every row of an uploaded file: the CSV with flag columns, and what to show."""
    app_state = state()
    limits = Limits.batch(app_state.settings)
    raw = upload.read(limits.bytes + 1)
    if len(raw) > limits.bytes:
        raise TooLarge(f"the file is larger than the limit of {limits.bytes:,} bytes")
    pinned, text_columns = app_state.service.text_features(ref)
    frame, _ = parse_bytes(raw, filename=filename, text_columns=text_columns, limits=limits)
    scored = app_state.service.predict_frame(
        pinned, frame, source="batch", request_id=g.get("request_id")
    )
    buffer = io.StringIO()
    scored.to_frame(frame, flags=True).to_csv(buffer, index=False)
    summary: dict[str, Any] = {
        "filename": filename[-200:],
        "columns": [],
        "unreliable": 0,
        "rows": len(frame),
    }
    if scored.is_regression:
        summary["value_summary"] = value_summary(scored.labels, scored.intervals)
    else:
        counts = Counter(map(str, scored.labels))
        summary["labels"] = [[str(c), counts.get(str(c), 0)] for c in scored.classes]
    schema = FeatureSchema.from_dict(app_state.service.registry.get_schema(pinned))
    if scored.report is not None:
        summary |= scored.report.summary(schema)
    known = {f.name for f in schema.features} | {schema.target}
    summary["ignored"] = [str(c) for c in frame.columns if c not in known][:50]
    if scored.ids is not None:  # logged rows: their ids lead the download, for feedback
        summary["id_column"] = ID_COLUMN_TAKEN if ID_COLUMN in frame.columns else ID_COLUMN
    return buffer.getvalue().encode("utf-8"), summary


@bp.post("/models/<name>/predict/batch")
def predict_batch(name: str):
    """Score an uploaded file, keep the result, and show what the model could not read."""
    metadata = state().service.metadata(requested_ref(name))
    version = metadata["version"]
    back = redirect(url_for("pages.predict", name=name, version=version))
    form = BatchForm()
    if not form.validate_on_submit():
        flash(f"Nothing was scored: {'; '.join(form.file.errors)}", "danger")
        return back
    upload = form.file.data
    ref = f"{name}:{version}"
    try:
        # Beyond one request's limits (or with explanations, slow per row): a background job.
        if form.explain.data or _size(upload.stream) > state().settings.max_predict_bytes:
            return queue_scoring(ref, upload, form.explain.data)
        try:
            body, summary = score_file(ref, upload.stream, upload.filename or "")
        except TooLarge:  # more rows than a request scores
            return queue_scoring(ref, upload, explain=False)
    except DsbaError as error:
        flash(f"Nothing was scored: {error.message}", "danger")
        return back
    summary |= {"name": name, "version": version, "target": metadata.get("target")}
    # The store, not this process: the page and the download may reach other workers.
    token = ScoredFiles(state().settings.registry_dir).put(body, summary)
    return redirect(url_for("pages.scored_file", name=name, token=token))


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _scored_summary(name: str, token: str) -> dict[str, Any]:
    summary = ScoredFiles(state().settings.registry_dir).summary(token)
    if summary.get("name") != name:
        raise NotFound("scored file not found")
    return summary


@bp.get("/models/<name>/predict/batch/<token>")
def scored_file(name: str, token: str):
    """Show a scored file's predictions per class and the values the model did not know."""
    summary = _scored_summary(name, token)
    return render_template("pages/scored.html", name=name, token=token, s=summary)


@bp.get("/models/<name>/predict/batch/<token>/download")
def scored_download(name: str, token: str):
    """Send a scored file as a CSV download."""
    summary = _scored_summary(name, token)
    download = f"{name}-v{summary['version']}-scored.csv"
    return Response(
        ScoredFiles(state().settings.registry_dir).csv_bytes(token),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{download}"'},
    )
