"""The reference profile saved with each version: what monitoring compares a window against.

Features are profiled on the training part (the rows the model learnt from), predictions on
the test part (the rows it never saw, as served rows are). Values are profiled as the
prediction log records them: numbers and booleans (0/1) as float64, datetimes as epoch
seconds, categories as their text. A regression model's predicted values are profiled as a
numeric feature is (quantile bins, range, spread), with the test targets and test metrics
(RMSE, MAE, R², interval coverage); it has no classes, probabilities or calibration.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

REFERENCE_FILE = "reference.json"
FORMAT = 1
NUMERIC_BINS = 20
TOP_CATEGORIES = 100
PROBA_EDGES = [round(i / 10, 1) for i in range(11)]
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def numeric_values(kind: str, series: pd.Series) -> np.ndarray:
    """A column's values as the log stores them, as float64 (NaN for missing)."""
    if kind == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
        seconds = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        return seconds.to_numpy(dtype=np.float64, na_value=np.nan)
    if kind == "boolean" and not pd.api.types.is_bool_dtype(series):
        text = series.astype(str).str.strip().str.lower().where(series.notna())
        mapped = text.map(lambda v: 1.0 if v in _TRUE else 0.0 if v in _FALSE else np.nan)
        return mapped.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(series.astype(float) if series.dtype == bool else series, "coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def bin_boundaries(values: np.ndarray, bins: int = NUMERIC_BINS) -> list[float]:
    """Right-closed bin upper bounds: the first bound sits just below the minimum."""
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:])
    low = float(np.nextafter(values.min(), -np.inf))
    return [low, *sorted({float(q) for q in quantiles})]


def bin_counts(values: np.ndarray, boundaries: list[float]) -> np.ndarray:
    """Counts below the minimum, in each bin (lo, hi], and above the maximum, as DuckDB does."""
    index = np.searchsorted(np.asarray(boundaries), values, side="left")
    return np.bincount(index, minlength=len(boundaries) + 1)


def _numeric_profile(values: np.ndarray) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return {"count": 0, "boundaries": [], "shares": []}
    boundaries = bin_boundaries(present)
    counts = bin_counts(present, boundaries)[1:-1]
    return {
        "count": int(len(present)),
        "boundaries": boundaries,
        "shares": (counts / len(present)).tolist(),
        "min": float(present.min()),
        "max": float(present.max()),
        "mean": float(present.mean()),
        "std": float(present.std()),
    }


def _categorical_profile(series: pd.Series) -> dict[str, Any]:
    text = series.dropna().astype(str)
    counts = text.value_counts()
    top = counts.iloc[:TOP_CATEGORIES]
    total = max(int(counts.sum()), 1)
    return {
        "count": int(counts.sum()),
        "categories": [str(c) for c in top.index],
        "shares": (top.to_numpy() / total).tolist(),
        "other_share": float(counts.iloc[TOP_CATEGORIES:].sum() / total),
    }


def feature_profile(name: str, kind: str, series: pd.Series, importance: float) -> dict:
    """Profile one feature column of the training part."""
    profile: dict[str, Any] = {"name": name, "kind": kind, "importance": importance}
    profile["rows"] = int(len(series))
    profile["missing_rate"] = float(series.isna().mean()) if len(series) else 0.0
    if kind == "categorical":
        return {**profile, **_categorical_profile(series)}
    values = numeric_values(kind, series)
    profile["missing_rate"] = float(np.isnan(values).mean()) if len(values) else 0.0
    return {**profile, **_numeric_profile(values)}


def calibration(correct: np.ndarray, confidence: np.ndarray) -> dict[str, Any]:
    """Reliability bins of the top probability against correctness, and their ECE."""
    index = np.clip(np.floor(confidence * 10).astype(int), 0, 9)
    count = np.bincount(index, minlength=10)
    hits = np.bincount(index, weights=correct.astype(float), minlength=10)
    conf = np.bincount(index, weights=confidence, minlength=10)
    safe = np.maximum(count, 1)
    ece = float(np.sum(np.abs(hits - conf)) / max(len(correct), 1))
    return {
        "edges": PROBA_EDGES,
        "count": count.tolist(),
        "accuracy": (hits / safe).tolist(),
        "confidence": (conf / safe).tolist(),
        "ece": ece,
    }


def prediction_profile(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: list,
    train_predicted: np.ndarray | None,
    predicted: np.ndarray | None = None,
) -> dict:
    """Class shares, probability histograms, metrics and calibration on the test part.

    Predicted class shares also count the training part's predictions when given: served
    rows are compared with more reference rows, so a smaller move stands out of the noise.
    Shares and metrics count the labels the version serves (given when a decision threshold
    makes them differ from the most probable class); the calibration bins stay those of the
    top probability, which is what the prediction log's bins count.
    """
    labels = [str(c) for c in classes]
    if predicted is None:
        predicted = proba.argmax(axis=1)
    n = max(len(predicted), 1)
    both = predicted if train_predicted is None else np.concatenate([predicted, train_predicted])
    shares = np.bincount(both, minlength=len(labels)) / max(len(both), 1)
    # Right-closed bins (0, 0.1], ..., (0.9, 1], as DuckDB counts the served rows.
    histograms = {
        label: (bin_counts(proba[:, i], PROBA_EDGES[1:])[:-1] / n).tolist()
        for i, label in enumerate(labels)
    }
    every = list(range(len(labels)))
    test_metrics = {
        "rows": int(len(y_true)),
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_true, predicted)),
        "f1_macro": float(
            metrics.f1_score(y_true, predicted, labels=every, average="macro", zero_division=0)
        ),
        "log_loss": float(metrics.log_loss(y_true, proba, labels=every)),
    }
    return {
        "prediction": {
            "classes": labels,
            "rows": int(len(both)),
            "class_shares": shares.tolist(),
            "proba_edges": PROBA_EDGES,
            "proba_histograms": histograms,
        },
        "metrics": test_metrics,
        "calibration": calibration(proba.argmax(axis=1) == y_true, proba.max(axis=1)),
    }


def regression_metrics(
    y_true: np.ndarray, predicted: np.ndarray, intervals: np.ndarray | None
) -> dict[str, Any]:
    """RMSE, MAE, R² and (given intervals) their coverage and mean width."""
    y_true, predicted = np.asarray(y_true, np.float64), np.asarray(predicted, np.float64)
    errors = y_true - predicted
    found: dict[str, Any] = {
        "rows": int(len(y_true)),
        "rmse": float(np.sqrt(np.mean(errors**2))) if len(errors) else None,
        "mae": float(np.mean(np.abs(errors))) if len(errors) else None,
        "r2": float(metrics.r2_score(y_true, predicted)) if len(errors) > 1 else None,
        "bias": float(np.mean(predicted - y_true)) if len(errors) else None,
    }
    if intervals is not None and len(errors):
        low, high = np.asarray(intervals, np.float64).T
        found["interval_coverage"] = float(np.mean((low <= y_true) & (y_true <= high)))
        found["interval_mean_width"] = float(np.mean(high - low))
    return found


def regression_profile(
    y_true: np.ndarray,
    predicted: np.ndarray,
    intervals: np.ndarray | None,
    train_predicted: np.ndarray | None,
) -> dict[str, Any]:
    """Predicted values binned as a numeric feature is, the test targets, the test metrics.

    The predicted values of the training part count too when given, as predicted classes
    do: the window is compared with more reference rows, so a smaller move stands out.
    """
    values = np.asarray(predicted, np.float64)
    both = values if train_predicted is None else np.concatenate([values, train_predicted])
    both = both.astype(np.float64)
    return {
        "task": "regression",
        "prediction": {"kind": "regression", "rows": int(len(both)), **_numeric_profile(both)},
        "target": _numeric_profile(np.asarray(y_true, np.float64)),
        "metrics": regression_metrics(y_true, values, intervals),
    }


def _feature_profiles(
    features: list[tuple[str, str]], train: pd.DataFrame, importance: dict[str, float]
) -> list[dict[str, Any]]:
    return [
        feature_profile(name, kind, train[name], round(importance.get(name, 0.0), 6))
        for name, kind in features
    ]


def build_reference(
    features: list[tuple[str, str]],
    train: pd.DataFrame,
    y_test: np.ndarray,
    proba_test: np.ndarray,
    classes: list,
    importance: dict[str, float],
    train_predicted: np.ndarray | None = None,
    predicted: np.ndarray | None = None,
) -> dict[str, Any]:
    """The reference profile of a classifier: (name, kind) features profiled on train."""
    return json_ready(
        {
            "format": FORMAT,
            "features": _feature_profiles(features, train, importance),
            **prediction_profile(y_test, proba_test, classes, train_predicted, predicted),
        }
    )


def build_regression_reference(
    features: list[tuple[str, str]],
    train: pd.DataFrame,
    y_test: np.ndarray,
    predicted_test: np.ndarray,
    importance: dict[str, float],
    *,
    intervals_test: np.ndarray | None = None,
    train_predicted: np.ndarray | None = None,
) -> dict[str, Any]:
    """The reference profile of a regression model: features on train, values on test.

    intervals_test: the test rows' [lower, upper] bounds (rows x 2); train_predicted: the
    values predicted for (a sample of) the training part, counted in the values' profile.
    """
    return json_ready(
        {
            "format": FORMAT,
            "features": _feature_profiles(features, train, importance),
            **regression_profile(y_test, predicted_test, intervals_test, train_predicted),
        }
    )


def json_ready(value: Any, digits: int | None = None) -> Any:
    """Plain JSON types only: numpy scalars unwrapped, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v, digits) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # Bin bounds must survive exactly (a rounded bound moves values across it).
        return value if digits is None else round(value, digits)
    return value
