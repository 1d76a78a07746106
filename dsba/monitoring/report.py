"""The monitoring report of a model version over a window: data first, rendered by the surfaces."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dsba.config import Settings
from dsba.monitoring import drift, labelled, layout, live_regression, log_reader, performance
from dsba.monitoring.reference import json_ready
from dsba.monitoring.window import window
from dsba.registry.model_registry import LoadedModel

# A drifted feature below this share of the model's gain is a warning, not drift.
MIN_IMPORTANCE = 0.05
NO_ESTIMATE = (
    "no performance estimate exists for a regression model: the estimate (CBPE) is the "
    "accuracy implied by class probabilities, which a regression model does not make; "
    "send true values as feedback for its live RMSE, MAE and R²"
)


def _feature(profile: dict, raw: dict, rows: int, settings: Settings) -> dict[str, Any]:
    """One feature's row of the drift table."""
    missing = raw["missing"] if raw["missing"] is not None else rows
    if profile["kind"] == "categorical":
        scored = drift.categorical_drift(profile, raw, settings.drift_threshold)
    else:
        scored = drift.numeric_drift(profile, raw["counts"], settings.drift_threshold)
    current_missing = missing / rows if rows else 0.0
    entry = {
        "name": profile["name"],
        "kind": profile["kind"],
        **{k: scored[k] for k in ("method", "score", "threshold", "drifted", "psi")},
        "missing_rate": {"reference": profile["missing_rate"], "current": current_missing},
        "out_of_range_rate": scored.get("out_of_range_rate"),
        "unseen_rate": scored.get("unseen_rate"),
        "importance": profile.get("importance"),
        "histogram": scored["histogram"],
    }
    limit = settings.quality_threshold
    outside_by_chance = 2 / (profile.get("count", 0) + 1)
    entry["quality_issues"] = [
        issue
        for issue, bad in (
            ("missing_rate", current_missing - profile["missing_rate"] > limit),
            # Of n training values, a new one falls outside their range with chance 2/(n+1).
            ("out_of_range", (entry["out_of_range_rate"] or 0.0) > limit + outside_by_chance),
            ("unseen", (entry["unseen_rate"] or 0.0) > limit),
        )
        if bad
    ]
    return entry


def _severity(entry: dict) -> tuple:
    ratio = entry["score"] / entry["threshold"] if entry["threshold"] else 0.0
    return (not entry["drifted"], -ratio, -(entry["importance"] or 0.0))


def _drift_part(con, params, types, reference, summary, settings, known) -> tuple[list, dict]:
    """The feature table and the prediction drift."""
    rows = summary["rows"]
    features = []
    categorical = {
        p["name"]: known.get(p["name"]) or p["categories"]
        for p in reference["features"]
        if p["kind"] == "categorical"
    }
    counted = log_reader.categories(con, params, types, categorical)
    for profile in reference["features"]:
        if profile["kind"] == "categorical":
            raw = counted[profile["name"]]
        elif profile.get("boundaries"):
            raw = summary["numeric"][profile["name"]]
        else:
            continue
        features.append(_feature(profile, raw, rows, settings))
    features.sort(key=_severity)
    pred = reference["prediction"]
    if "classes" not in pred:  # a regression model: its values drift as a number does
        values = summary["values"]
        scored = drift.numeric_drift(pred, values["counts"], settings.drift_threshold)
        keep = ("method", "score", "threshold", "drifted", "psi", "out_of_range_rate")
        moved = {k: scored[k] for k in keep}
        rows_valued = rows - values["missing"]
        moved["histogram"] = scored["histogram"] if rows_valued else None
        moved["interval_mean_width"] = summary["interval_width"]
        return features, moved
    counts = [int(summary["predictions"].get(c, 0)) for c in pred["classes"]]
    moved = drift.class_drift(pred["class_shares"], pred["rows"], counts, settings.drift_threshold)
    moved["classes"] = pred["classes"]
    moved["proba_histograms"] = {
        c: {
            "bins": pred["proba_edges"],
            "reference": pred["proba_histograms"][c],
            "current": (np.asarray(summary["proba"][c]) / max(rows, 1)).tolist(),
        }
        for c in pred["classes"]
    }
    return features, moved


def _status(rows: int, features: list, moved: dict, settings: Settings, notes: list) -> str:
    if rows == 0:
        return "no_data"
    important = [f for f in features if f["drifted"] and (f["importance"] or 0.0) >= MIN_IMPORTANCE]
    status = "drift" if important or moved["drifted"] else "ok"
    if status == "ok" and any(f["drifted"] or f["quality_issues"] for f in features):
        status = "warning"
    if rows < settings.drift_min_rows:
        notes.append(
            f"the window holds {rows} rows, too few to judge drift reliably "
            f"(at least {settings.drift_min_rows}): drift is shown as a warning at most"
        )
        status = "warning" if status == "drift" else status
    return status


def _value_bounds(reference: dict[str, Any] | None) -> list[float]:
    """Histogram bounds of a regression model's predicted values (one bucket without a profile)."""
    profile = (reference or {}).get("prediction") or {}
    return drift.extended_bounds(profile) if profile.get("boundaries") else [-math.inf]


def _compute(root, model, reference, since, until, settings, classes) -> dict[str, Any]:
    files = layout.log_files(root, model.name, model.version, since, until)
    feedback = layout.feedback_files(root, model.name)
    regression = layout.is_regression(model.schema)
    report: dict[str, Any] = {"features": [], "volume": [], "rows": 0, "notes": []}
    method = "wasserstein_normed" if regression else "jensenshannon"
    report["prediction_drift"] = {"method": method, "score": None, "drifted": False}
    report["live"], report["estimated"] = None, None
    if not files:
        return report
    con = log_reader.connect()
    try:
        params = log_reader.window_params(files, since, until)
        types = log_reader.column_types(con, files)
        numeric = {
            p["name"]: drift.extended_bounds(p)
            for p in (reference or {}).get("features", [])
            if p["kind"] != "categorical" and p.get("boundaries")
        }
        value_bounds = _value_bounds(reference) if regression else None
        summary = log_reader.summary(con, params, types, numeric, classes, value_bounds)
        report["rows"] = summary["rows"]
        report["volume"] = [
            {"period": datetime.fromtimestamp(h / 1e6, UTC).isoformat(), "rows": n}
            for h, n in summary["hours"]
        ]
        if regression:
            report["live"] = live_regression.live_metrics(con, params, feedback, types)
        else:
            live = labelled.live_counts(con, params, feedback, types, classes)
            report["live"] = performance.live_metrics(live, classes) if live else None
        if reference is not None and summary["rows"]:
            known = {
                f["name"]: [str(c) for c in f.get("categories") or []]
                for f in model.schema["features"]
            }
            features, moved = _drift_part(con, params, types, reference, summary, settings, known)
            report["features"], report["prediction_drift"] = features, moved
            if not regression:
                calibration = reference["calibration"]
                report["estimated"] = performance.estimated_accuracy(
                    summary["top_bins"], calibration
                )
    finally:
        con.close()
    return report


def _test_figures(model: LoadedModel, reference: dict[str, Any] | None) -> dict[str, Any]:
    """The test part's figures: the reference's, else the version's metadata."""
    test = dict(reference["metrics"]) if reference else dict(model.metadata.get("metrics", {}))
    if layout.is_regression(model.schema):
        test["interval_nominal"] = (model.metadata.get("intervals") or {}).get("coverage")
    elif reference is not None:
        test["ece"] = reference["calibration"]["ece"]
    return test


def monitoring_report(
    root: Path,
    model: LoadedModel,
    reference: dict[str, Any] | None,
    *,
    since: Any = None,
    until: Any = None,
    settings: Settings,
) -> dict[str, Any]:
    """Drift, data quality, volume and performance of a model version over [since, until)."""
    start, end = window(since, until)
    classes = [str(c) for c in model.schema["classes"]]
    regression = layout.is_regression(model.schema)
    part = layout.read_live(lambda: _compute(root, model, reference, start, end, settings, classes))
    notes = part["notes"]
    if reference is None:
        status = "no_reference" if part["rows"] else "no_data"
        notes.append(
            "this version has no reference profile (trained before monitoring existed): "
            "retrain it to get drift and estimated performance"
        )
    else:
        status = _status(part["rows"], part["features"], part["prediction_drift"], settings, notes)
    estimated = part["estimated"]
    if regression:
        notes.append(NO_ESTIMATE)
    elif reference is not None:
        calibration = reference["calibration"]
        warning = performance.calibration_note(calibration, settings.calibration_max_ece)
        if estimated is not None:
            estimated["warning"] = warning
    return json_ready(
        {
            "model": model.ref,
            "task": "regression" if regression else "classification",
            "window": {
                "since": start.isoformat(),
                "until": end.isoformat(),
                "rows": part["rows"],
                "enough_rows": part["rows"] >= settings.drift_min_rows,
            },
            "status": status,
            "notes": notes,
            "features": part["features"],
            "prediction_drift": part["prediction_drift"],
            "performance": {
                "test": _test_figures(model, reference),
                "live": part["live"],
                "estimated": estimated,
            },
            "volume": part["volume"],
        },
        digits=6,
    )
