"""What the pages show of a regression version: metric cards, chart data, interval figures."""

from __future__ import annotations

from typing import Any

from dsba.data.target import CLASSIFICATION, REGRESSION
from dsba.model.regression_evaluation import percent_of
from webapp.pages.charts import MAX_IMPORTANCE_BARS, learning_curve

# Metric key, card title, note; lower is better for all but R².
CARDS = (
    ("rmse", "RMSE", "root mean squared error"),
    ("mae", "MAE", "mean absolute error"),
    ("r2", "R²", "share of the variance explained"),
    ("median_absolute_error", "Median AE", "median absolute error"),
    ("mape", "MAPE", "mean absolute percentage error"),
)
METHOD_NAMES = {
    "absolute": "constant width",
    "normalized": "width scaled to the expected error",
    "cqr": "quantile regression (CQR)",
}


def is_regression(metadata: dict[str, Any] | None) -> bool:
    """True for a regression version's metadata or schema (absent task: a classifier)."""
    return (metadata or {}).get("task") == REGRESSION


def metric_cards(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The five test-part figures with the training-mean baseline's figure beside each."""
    metrics = metadata.get("metrics") or {}
    evaluation = metadata.get("evaluation") or {}
    baseline = evaluation.get("baseline") or {}
    cards = []
    for key, title, note in CARDS:
        reference = baseline.get(key, metrics.get(f"baseline_{key}"))
        cards.append(
            {
                "key": key,
                "title": title,
                "note": note,
                "value": metrics.get(key),
                "baseline": reference,
            }
        )
    return cards


def interval_summary(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """Nominal and measured coverage, mean width, the method kept and the ones it beat."""
    evaluation = (metadata.get("evaluation") or {}).get("intervals") or {}
    metrics = metadata.get("metrics") or {}
    stored = metadata.get("intervals") or {}
    nominal = evaluation.get("nominal", stored.get("coverage"))
    if nominal is None:
        return None
    method = evaluation.get("method", stored.get("method"))
    candidates = [
        {
            "method": name,
            "calibration_coverage": figures.get("calibration_coverage"),
            "calibration_width": figures.get("calibration_mean_width"),
            "coverage": figures.get("coverage"),
            "mean_width": figures.get("mean_width"),
            "kept": name == method,
        }
        for name, figures in sorted((evaluation.get("candidates") or {}).items())
    ]
    coverage = evaluation.get("coverage", metrics.get("interval_coverage"))
    return {
        "nominal": nominal,
        "coverage": coverage,
        "mean_width": evaluation.get("mean_width", metrics.get("interval_mean_width")),
        "method": method,
        "candidates": candidates,
        "gap": None if coverage is None else coverage - nominal,
    }


def _bounds(*series: list[float]) -> list[float]:
    values = [v for s in series for v in s if v is not None]
    return [min(values), max(values)] if values else []


def regression_chart_data(metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON the model page's script reads to draw a regression version's charts."""
    evaluation = metadata.get("evaluation") or {}
    points = evaluation.get("predicted_vs_actual") or {}
    actual, predicted = points.get("actual") or [], points.get("predicted") or []
    return {
        "task": REGRESSION,
        "target": metadata.get("target"),
        "actual": actual,
        "predicted": predicted,
        "residual": [a - p for a, p in zip(actual, predicted, strict=True)],
        "diagonal": _bounds(actual, predicted),
        "deciles": evaluation.get("error_by_decile") or [],
        "importance": (evaluation.get("feature_importance") or [])[:MAX_IMPORTANCE_BARS],
        "learning_curve": learning_curve(evaluation.get("learning_curve") or {}),
        "best_iteration": metadata.get("best_iteration"),
    }


def version_columns(versions: list[dict[str, Any]]) -> str:
    """Which metric columns a list of versions needs: classification, regression or mixed."""
    tasks = {REGRESSION if is_regression(v) else CLASSIFICATION for v in versions}
    return tasks.pop() if len(tasks) == 1 else "mixed"


def interval_bar(value: float, interval: list[float], metadata: dict[str, Any]) -> dict[str, Any]:
    """Where a prediction and its interval sit on the range of the target in the test rows."""
    actual = ((metadata.get("evaluation") or {}).get("predicted_vs_actual") or {}).get("actual")
    low, high = interval
    start, end = min([low, value, *(actual or [])]), max([high, value, *(actual or [])])
    span = end - start
    before, below = percent_of(low - start, span), percent_of(value - low, span)
    return {
        "start": start,
        "end": end,
        "before": before,
        "below": below,
        "above": min(100 - before - below, percent_of(high - value, span)),
    }
