"""Template filters and globals shared by every page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from webapp.pages import bp
from webapp.pages.ranges import number
from webapp.state import state

_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
_NAME_BREAKS = re.compile(r"(?<=[_.])(?=[^_.])")
_UNITS = (("day", 86400), ("h", 3600), ("min", 60))


@bp.app_template_filter("age")
def age(stamp: str | None) -> str:
    """How long ago an ISO timestamp was, in words ("5 min ago")."""
    if not stamp:
        return "—"
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0.0, (datetime.now(UTC) - then).total_seconds())
    for unit, size in _UNITS:
        if seconds >= size:
            count = int(seconds // size)
            plural = "s" if unit == "day" and count != 1 else ""
            return f"{count} {unit}{plural} ago"
    return "just now"


@bp.app_template_filter("breakable")
def breakable(name: Any) -> Markup:
    """A column name that may wrap after its underscores and dots, never inside a word."""
    return Markup("<wbr>").join(_NAME_BREAKS.split(str(name)))


@bp.app_template_filter("metric")
def metric(value: Any, digits: int = 3) -> str:
    """A metric rounded for display, or a dash when it is missing."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.{digits}f}"


@bp.app_template_filter("quantity")
def quantity(value: Any) -> str:
    """A value in the target's units with four significant digits (4050, 44.45, 12,345)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return number(value)


@bp.app_template_filter("percent")
def percent(share: Any, digits: int = 1) -> str:
    """A share between 0 and 1 as a percentage ("89.5%"), or a dash when it is missing."""
    if share is None or isinstance(share, bool) or not isinstance(share, int | float):
        return "—"
    return f"{100 * share:.{digits}f}%"


@bp.app_template_filter("filesize")
def filesize(n_bytes: Any) -> str:
    """A byte count in B, KB, MB or GB."""
    if not isinstance(n_bytes, int | float):
        return "—"
    size = float(n_bytes)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def model_name_from(filename: str | None) -> str:
    """A valid model name guessed from a file name ("Penguins 2024.csv" -> "penguins-2024")."""
    stem = Path(filename or "").stem.lower()
    name = _NOT_NAME.sub("-", stem).strip("-_")[:64]
    return name or "model"


def upload_limit() -> str:
    """The largest upload this server accepts, in words ("200 MB", or "64 KB" for tiny limits)."""
    limit = state().settings.max_upload_bytes
    size, unit = (limit / (1024 * 1024), "MB") if limit >= 1024 * 1024 else (limit / 1024, "KB")
    return f"{size:.0f} {unit}" if size >= 10 or size.is_integer() else f"{size:.1f} {unit}"


def batch_limit() -> str:
    """What one request scores at once, in words ("10,000 rows or 16 MB")."""
    settings = state().settings
    limit = settings.max_predict_bytes
    size = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"{settings.max_batch_rows:,} rows or {size}"


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    """Values every template may use."""
    return {"upload_limit": upload_limit, "batch_limit": batch_limit}
