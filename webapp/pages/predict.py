"""Score one row from a form built from the schema, or a whole file."""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Response, flash, redirect, render_template, request, url_for

from dsba.errors import DsbaError, TooLarge
from dsba.ingestion import parse_bytes
from dsba.limits import Limits
from webapp.pages import bp
from webapp.pages.forms import BatchForm, predict_form
from webapp.pages.models import requested_ref
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
    result, explanation, warnings = None, [], []
    if form.validate_on_submit():
        record = form.record()
        try:
            scored = service.predict_records(ref, [record], contributions=True)
        except DsbaError as error:
            flash(f"The row could not be scored: {error.message}", "danger")
        else:
            result = scored.records()[0]
            explanation = explain(record, result.get("contributions") or {})
            warnings = scored.warnings
    status = 400 if request.method == "POST" and result is None else 200
    return render_template(
        "pages/predict.html",
        name=name,
        meta=metadata,
        schema=schema,
        form=form,
        batch_form=BatchForm(formdata=None),
        result=result,
        explanation=explanation,
        warnings=warnings,
    ), status


def scored_csv(ref: str, upload: IO[bytes], filename: str) -> bytes:
    """Score every row of an uploaded file; return it as CSV with the new columns added."""
    app_state = state()
    limits = Limits.batch(app_state.settings)
    raw = upload.read(limits.bytes + 1)
    if len(raw) > limits.bytes:
        raise TooLarge(f"the file is larger than the limit of {limits.bytes:,} bytes")
    frame, _ = parse_bytes(raw, filename=filename, limits=limits)
    scored = app_state.service.predict_frame(ref, frame)
    buffer = io.StringIO()
    scored.to_frame(frame).to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


@bp.post("/models/<name>/predict/batch")
def predict_batch(name: str):
    """Score an uploaded file and send it back as a CSV download."""
    metadata = state().service.metadata(requested_ref(name))
    version = metadata["version"]
    back = redirect(url_for("pages.predict", name=name, version=version))
    form = BatchForm()
    if not form.validate_on_submit():
        flash(f"Nothing was scored: {'; '.join(form.file.errors)}", "danger")
        return back
    upload = form.file.data
    try:
        body = scored_csv(f"{name}:{version}", upload.stream, upload.filename)
    except DsbaError as error:
        flash(f"Nothing was scored: {error.message}", "danger")
        return back
    download = f"{name}-v{version}-scored.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{download}"'},
    )
