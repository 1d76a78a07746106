"""A model's monitoring page: drift, volume and accuracy over a window; true labels uploaded."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for

from dsba.data.ingestion import parse_bytes
from dsba.errors import InvalidInput
from dsba.monitoring.feedback_store import items_from_frame
from webapp.pages import bp
from webapp.pages.forms import FeedbackForm
from webapp.pages.models import requested_ref
from webapp.pages.monitoring_view import (
    BANNERS,
    PRESET_NAMES,
    chart_data,
    page_query,
    picker_value,
    share,
    window_arguments,
)
from webapp.state import state

SHOWN_INVALID = 5
RESULT_KEY = "feedback_result"


def feedback_items(raw: bytes, filename: str, id_column: str, label_column: str) -> list[dict]:
    """The {id, label} items of an uploaded file, read as any upload is, ids as text."""
    frame, _ = parse_bytes(
        raw,
        filename=filename,
        settings=state().settings,
        text_columns=frozenset({id_column, label_column}),
    )
    return items_from_frame(frame, id_column, label_column)


def _result(outcome: dict[str, Any], filename: str) -> dict[str, Any]:
    """What the page shows of a feedback upload (kept small: it rides in the session)."""
    invalid = outcome["invalid"]
    return {
        "filename": filename[-200:],
        "accepted": outcome["accepted"],
        "unmatched": outcome["unmatched"],
        "invalid": len(invalid),
        # Rows counted from 1, the first after the header, as on the scored-file page.
        "reasons": [
            {"row": item["index"] + 1, "id": item["id"], "reason": item["reason"]}
            for item in invalid[:SHOWN_INVALID]
        ],
    }


def _page(name: str, form: FeedbackForm, status: int = 200):
    """Render the page around one report of the requested version and window."""
    service = state().service
    metadata = service.metadata(requested_ref(name))
    ref = f"{name}:{metadata['version']}"
    since, until, preset = window_arguments(request.args)
    report = service.monitoring(ref, since=since, until=until)
    banner = BANNERS.get(report["status"], BANNERS["warning"])
    return render_template(
        "pages/monitoring.html",
        name=name,
        meta=metadata,
        report=report,
        banner=banner,
        preset=preset,
        presets=PRESET_NAMES,
        since_value=picker_value(report["window"]["since"]),
        until_value=picker_value(report["window"]["until"]),
        charts=chart_data(report),
        share=share,
        form=form,
        query=page_query(request.args),
        result=session.pop(RESULT_KEY, None) if request.method == "GET" else None,
    ), status


@bp.get("/models/<name>/monitoring")
def monitoring(name: str):
    """Show drift, data quality, volume and accuracy of a version over a window."""
    return _page(name, FeedbackForm(formdata=None))


@bp.post("/models/<name>/monitoring")
def upload_feedback(name: str):
    """Take a CSV of prediction ids and true labels; show what was accepted."""
    form = FeedbackForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            items = feedback_items(
                upload.read(),
                upload.filename or "labels.csv",
                form.id_column.data,
                form.label_column.data,
            )
            outcome = state().service.feedback(requested_ref(name), items)
        except InvalidInput as error:
            missing = "missing_columns" in (error.errors or {})
            hint = "; type the names of its id and label columns below" if missing else ""
            form.file.errors = [*form.file.errors, error.message + hint]
        else:
            session[RESULT_KEY] = _result(outcome, upload.filename or "")
            return redirect(url_for("pages.monitoring", name=name, **page_query(request.args)))
    return _page(name, form, 400)
