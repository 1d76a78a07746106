"""Metrics, the training-mean baseline, predicted-vs-actual points and error by decile."""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb
from sklearn import metrics

from dsba.data.schema import FeatureSchema
from dsba.model.evaluation import feature_importance, learning_curve
from dsba.model.intervals import IntervalModel, coverage_and_width

# The page draws every point: a few thousand keep it readable and the metadata small.
MAX_SCATTER_POINTS = 2_000
DECILES = 10


def _round(value: float) -> float:
    return round(float(value), 6)


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, R², median absolute error, and MAPE (None when a target is 0)."""
    y, predicted = np.asarray(y, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    mape = None
    if len(y) and not (y == 0).any():
        mape = _round(metrics.mean_absolute_percentage_error(y, predicted))
    # R² is undefined on fewer than two rows or a constant test target.
    r2 = _round(metrics.r2_score(y, predicted)) if len(y) > 1 and np.ptp(y) > 0 else None
    return {
        "rmse": _round(np.sqrt(metrics.mean_squared_error(y, predicted))),
        "mae": _round(metrics.mean_absolute_error(y, predicted)),
        "r2": r2,
        "median_absolute_error": _round(metrics.median_absolute_error(y, predicted)),
        "mape": mape,
    }


def predicted_vs_actual(y: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, list]:
    """At most MAX_SCATTER_POINTS test points, a seeded sample when there are more."""
    rows = np.arange(len(y))
    if len(y) > MAX_SCATTER_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(y), MAX_SCATTER_POINTS, False))
    return {
        "actual": [_round(v) for v in np.asarray(y)[rows]],
        "predicted": [_round(v) for v in np.asarray(predicted)[rows]],
    }


def error_by_decile(y: np.ndarray, predicted: np.ndarray) -> list[dict[str, Any]]:
    """Errors per tenth of the test rows ordered by predicted value (bias = mean of y - f(x))."""
    order = np.argsort(predicted, kind="stable")
    result = []
    for decile, rows in enumerate(np.array_split(order, DECILES), start=1):
        if not len(rows):
            continue
        residual = y[rows] - predicted[rows]
        result.append(
            {
                "decile": decile,
                "low": _round(predicted[rows].min()),
                "high": _round(predicted[rows].max()),
                "count": len(rows),
                "mae": _round(np.abs(residual).mean()),
                "rmse": _round(np.sqrt((residual**2).mean())),
                "bias": _round(residual.mean()),
            }
        )
    return result


def evaluate_regression(
    booster: xgb.Booster,
    schema: FeatureSchema,
    y_test: np.ndarray,
    predicted: np.ndarray,
    bounds: np.ndarray,
    train_mean: float,
    intervals: IntervalModel,
    candidates: dict[str, np.ndarray],
    evals_result: dict[str, dict[str, list[float]]],
    seed: int,
    importance: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the model page and metadata show about a trained regressor.

    importance replaces the trees' gain importance (a linear booster has no splits).
    """
    baseline = regression_metrics(y_test, np.full(len(y_test), train_mean))
    covered = coverage_and_width(y_test, bounds)
    headline = {
        **regression_metrics(y_test, predicted),
        "interval_coverage": covered["coverage"],
        "interval_mean_width": covered["mean_width"],
        **{f"baseline_{k}": baseline[k] for k in ("rmse", "mae", "r2")},
    }
    return {
        "metrics": headline,
        "baseline": baseline,
        "predicted_vs_actual": predicted_vs_actual(y_test, predicted, seed),
        "error_by_decile": error_by_decile(np.asarray(y_test, np.float64), predicted),
        "intervals": {
            "nominal": intervals.nominal,
            "coverage": covered["coverage"],
            "mean_width": covered["mean_width"],
            "method": intervals.method,
            "candidates": {
                method: {**coverage_and_width(y_test, found), **intervals.candidates[method]}
                for method, found in candidates.items()
            },
        },
        "feature_importance": importance or feature_importance(booster, schema),
        "learning_curve": learning_curve(evals_result),
    }


def percent_of(part: float, whole: float) -> int:
    """part as a whole percent of whole, within 0 to 100 (0 when whole is not positive)."""
    return max(0, min(100, round(100 * part / whole))) if whole > 0 else 0


def value_summary(values: list[float], intervals: Any, bins: int = 10) -> dict[str, Any]:
    """A scored file's predicted values: quantiles, mean interval width and a histogram."""
    numbers = np.asarray(values, dtype=np.float64)
    if numbers.size == 0:
        return {"bins": []}
    counts, edges = np.histogram(numbers, bins=bins)
    widths = None if intervals is None else np.asarray(intervals, dtype=np.float64)
    return {
        "min": float(numbers.min()),
        "median": float(np.median(numbers)),
        "mean": float(numbers.mean()),
        "max": float(numbers.max()),
        "mean_width": None if widths is None else float((widths[:, 1] - widths[:, 0]).mean()),
        "bins": [
            {
                "low": float(low),
                "high": float(high),
                "count": int(count),
                "pct": percent_of(count, counts.max()),  # bars scaled to the fullest bin
            }
            for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True)
        ],
    }
