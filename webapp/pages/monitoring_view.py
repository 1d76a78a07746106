"""Turn a monitoring report into what its page shows: window presets, banner, chart data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dsba.errors import InvalidInput

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESET_NAMES = {"24h": "Last 24 h", "7d": "7 days", "30d": "30 days"}
# Hours past this are drawn as they come (gaps left out) rather than filled with zeros.
MAX_FILLED_HOURS = 24 * 31

# What each status means and what to do, in plain words; the banner shows these.
BANNERS = {
    "ok": (
        "success",
        "No drift",
        "The inputs in this window look like the training data and the predictions look like "
        "those on the test rows. Nothing to do.",
    ),
    "warning": (
        "warning",
        "Worth a look",
        "Something moved, but not enough to call it drift: a feature of little weight drifted, "
        "a data-quality check failed (missing, out-of-range or unseen values), or the window "
        "is too small to judge. Check the flagged rows below and the data feeding the model.",
    ),
    "drift": (
        "danger",
        "Drift",
        "The inputs or the predictions differ from what the model was trained and tested on, "
        "so its accuracy may have dropped. Check the top features below for a problem upstream; "
        "if the change is real, retrain on recent data, and upload true labels to measure it.",
    ),
    "no_data": (
        "secondary",
        "No predictions in this window",
        "Nothing was scored by this version in the window. Score rows on the Predict page or "
        "through the API (POST /api/predict), or pick a longer window.",
    ),
    "no_reference": (
        "info",
        "No reference profile",
        "This version was trained before monitoring existed, so there is nothing to compare "
        "its inputs with: volume and live accuracy are shown, drift is not. Retrain the model "
        "to get drift and estimated accuracy.",
    ),
}


def page_query(args: Any) -> dict[str, str]:
    """The query keys the page reads (version and window), to carry across the upload."""
    return {k: args[k] for k in ("version", "since", "until", "last") if args.get(k)}


def window_arguments(args: Any) -> tuple[str | None, str | None, str | None]:
    """(since, until, preset) from the query string; a preset wins, 24 h when nothing is given."""
    preset = args.get("last", "").strip()
    since, until = args.get("since", "").strip(), args.get("until", "").strip()
    if preset:
        if preset not in PRESETS:
            raise InvalidInput(
                f"last must be one of {', '.join(PRESETS)}, got {preset[:20]!r}",
                {"last": "unknown preset"},
            )
        end = datetime.now(UTC)
        return (end - PRESETS[preset]).isoformat(), end.isoformat(), preset
    if not since and not until:
        return None, None, "24h"
    return since or None, until or None, None


def picker_value(stamp: str) -> str:
    """An ISO time as a datetime-local input's value, in UTC, to the minute."""
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _hours(volume: list[dict], since: str, until: str) -> list[dict]:
    """Rows per hour over the whole window, hours without rows at zero."""
    start = datetime.fromisoformat(since).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromisoformat(until)
    if (end - start) / timedelta(hours=1) > MAX_FILLED_HOURS:
        return volume
    counts = {datetime.fromisoformat(v["period"]): v["rows"] for v in volume}
    filled, hour = [], start
    while hour < end:
        filled.append({"period": hour.isoformat(), "rows": counts.get(hour, 0)})
        hour += timedelta(hours=1)
    return filled


def _accuracy(performance: dict) -> dict:
    """Accuracy per day: live (from labels), estimated (CBPE), and the test part's figure."""
    live = {d["period"]: d["accuracy"] for d in (performance.get("live") or {}).get("per_day", [])}
    estimated = {
        d["period"]: d["accuracy"] for d in (performance.get("estimated") or {}).get("per_day", [])
    }
    days = sorted(set(live) | set(estimated))
    return {
        "days": days,
        "live": [live.get(d) for d in days],
        "estimated": [estimated.get(d) for d in days],
        "test": (performance.get("test") or {}).get("accuracy"),
    }


def _errors(performance: dict) -> dict:
    """A regression model's RMSE per day, live (from true values), with the test part's."""
    live = (performance.get("live") or {}).get("per_day", [])
    return {
        "metric": "RMSE",
        "days": [d["period"] for d in live],
        "live": [d["rmse"] for d in live],
        "estimated": [],  # no label-free estimate exists for regression
        "test": (performance.get("test") or {}).get("rmse"),
    }


def chart_data(report: dict) -> dict:
    """The JSON the monitoring page's script reads to draw its charts."""
    window = report["window"]
    moved = report["prediction_drift"]
    if report.get("task") == "regression":
        values = moved.get("histogram") or {}
        return {
            "volume": _hours(report["volume"], window["since"], window["until"]),
            "accuracy": _errors(report["performance"]),
            "histograms": [f["histogram"] for f in report["features"]],
            "predictions": {
                "classes": values.get("bins", []),
                "reference": values.get("reference", []),
                "current": values.get("current", []),
            },
        }
    return {
        "volume": _hours(report["volume"], window["since"], window["until"]),
        "accuracy": _accuracy(report["performance"]),
        "histograms": [f["histogram"] for f in report["features"]],
        "predictions": {
            "classes": moved.get("classes", []),
            "reference": moved.get("reference", []),
            "current": moved.get("current", []),
        },
    }


def share(value: Any) -> str:
    """A rate as a percentage for the table, or a dash."""
    if value is None:
        return "—"
    percent = 100 * value
    return f"{percent:.1f}%" if 0 < percent < 10 else f"{percent:.0f}%"
