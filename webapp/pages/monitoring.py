"""A model's monitoring page: drift, volume and accuracy over a window; true labels uploaded."""

from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd
from flask import redirect, render_template, request, session, url_for

from dsba.errors import InvalidInput
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


def record_feedback(ref: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Store true labels for logged predictions of ref's model."""
    return state().service.feedback(ref, items)


def feedback_items(raw: bytes, id_column: str, label_column: str) -> list[dict[str, Any]]:
    """The {id, label} items of a CSV; a ValueError says what is wrong with the file."""
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as error:
        raise ValueError("the file is empty") from error
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"the file could not be read as CSV ({error})") from error
    missing = [c for c in (id_column, label_column) if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:20])) or "none"
        named = " and ".join(f"'{c}'" for c in missing)
        noun = "columns" if len(missing) > 1 else "column"
        raise ValueError(
            f"the file has no {noun} {named} (its columns: {found}); "
            "type the names of its id and label columns below"
        )
    return [
        {"id": prediction_id, "label": label or None}
        for prediction_id, label in zip(frame[id_column], frame[label_column], strict=True)
    ]


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
            items = feedback_items(upload.read(), form.id_column.data, form.label_column.data)
            outcome = record_feedback(requested_ref(name), items)
        except ValueError as error:
            form.file.errors = [*form.file.errors, str(error)]
        except InvalidInput as error:
            form.file.errors = [*form.file.errors, error.message]
        else:
            session[RESULT_KEY] = _result(outcome, upload.filename or "")
            return redirect(url_for("pages.monitoring", name=name, **page_query(request.args)))
    return _page(name, form, 400)
