"""The decision threshold of a binary classifier: choose it, tabulate it, apply it, change it."""

from __future__ import annotations

from typing import Any

import numpy as np

from dsba.errors import InvalidInput

OPTIMIZE_CHOICES = ("accuracy", "balanced_accuracy", "f1", "log_loss", "roc_auc")
# A regression's metrics (the first is the default); they drive a search only.
REGRESSION_OPTIMIZE = ("rmse", "mae", "r2")
ALL_OPTIMIZE = OPTIMIZE_CHOICES + REGRESSION_OPTIMIZE
# Metrics a threshold moves; log loss and ROC AUC read probabilities only, so they keep 0.5.
THRESHOLD_METRICS = ("balanced_accuracy", "f1")
DEFAULT_THRESHOLD = 0.5
# The candidate thresholds, and the ones the model page's table holds (~100 rows of counts).
_CANDIDATES = np.round(np.linspace(0.005, 0.995, 199), 3)
TABLE_THRESHOLDS = np.round(np.linspace(0.0, 0.99, 100), 2)


def check_optimize(value: str | None, regression: bool | None = False) -> str:
    """Return the metric to optimize (the task's default when none), or say which ones exist.

    regression None: the task is not known yet, so any metric of either task passes.
    """
    choices = {None: ALL_OPTIMIZE, False: OPTIMIZE_CHOICES, True: REGRESSION_OPTIMIZE}[regression]
    chosen = value or choices[0]
    if chosen not in choices:
        task = {None: "", False: " for a classification", True: " for a regression"}[regression]
        raise InvalidInput(
            f"optimize must be one of {', '.join(choices)}{task}, got {value!r}",
            {"optimize": "invalid"},
        )
    return chosen


def check_threshold(value: Any) -> float:
    """Return value as a threshold strictly between 0 and 1, or raise InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("threshold must be a number between 0 and 1", {"threshold": "invalid"})
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidInput(
            f"threshold must be a number between 0 and 1, got {value!r}", {"threshold": "invalid"}
        ) from exc
    if not 0.0 < number < 1.0:
        raise InvalidInput(
            f"threshold must be strictly between 0 and 1, got {value!r}", {"threshold": "invalid"}
        )
    return round(number, 6)


def decide(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: the positive class when p >= threshold (binary), else the most probable."""
    if threshold is None or proba.shape[1] != 2:
        return proba.argmax(axis=1)
    return (proba[:, 1] >= threshold).astype(np.int64)


def _counts(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """True/false positives and negatives at every threshold (p >= threshold is positive).

    Sorted scores and a binary search per threshold: no rows x thresholds matrix, so the
    table costs little even on a large test part.
    """
    positives, negatives = np.sort(p[y == 1]), np.sort(p[y != 1])
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    return tp, fp, len(positives) - tp, len(negatives) - fp


def _scores(metric: str, tp, fp, fn, tn) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "f1":
            return np.nan_to_num(2 * tp / (2 * tp + fp + fn))
        recall = np.nan_to_num(tp / (tp + fn))
        specificity = np.nan_to_num(tn / (tn + fp))
        return (recall + specificity) / 2


def choose_threshold(y: np.ndarray, p: np.ndarray, metric: str) -> float:
    """The threshold maximising metric on held-out (y, p); 0.5 for metrics it does not move.

    Ties are common on few positives (a plateau of equal scores): the middle of the best
    thresholds is taken, so the choice does not sit on the edge of a run of equal scores.
    """
    if metric not in THRESHOLD_METRICS or len(np.unique(y)) < 2:
        return DEFAULT_THRESHOLD
    scores = _scores(metric, *_counts(y, p, _CANDIDATES))
    best = _CANDIDATES[np.isclose(scores, scores.max())]
    return float(np.median(best).round(3))


def threshold_table(y: np.ndarray, p: np.ndarray) -> dict[str, list]:
    """Confusion counts on the test part at ~100 thresholds; the page derives the rest."""
    tp, fp, fn, tn = _counts(y, p, TABLE_THRESHOLDS)
    return {
        "threshold": TABLE_THRESHOLDS.tolist(),
        "tp": tp.tolist(),
        "fp": fp.tolist(),
        "fn": fn.tolist(),
        "tn": tn.tolist(),
    }
