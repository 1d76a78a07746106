"""Score held-out predictions by the metric the user optimizes, as the search compares trials."""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from dsba.model.threshold import choose_threshold, decide

# Probabilities are clipped before log loss so a confident miss costs a finite amount.
_EPSILON = 1e-15


def _as_proba(pred: np.ndarray) -> np.ndarray:
    """Class probabilities as columns: a binary model predicts the positive class only."""
    return np.column_stack([1.0 - pred, pred]) if pred.ndim == 1 else pred


def score(optimize: str, y: np.ndarray, pred: np.ndarray) -> float:
    """The metric on held-out rows; pred is a value (regression), p (binary) or probabilities.

    On a binary target balanced_accuracy and f1 are read at the threshold that maximises
    them on these rows, as training then chooses one out of fold: a trial is judged by the
    decision it would lead to, not by the 0.5 cut it will not use.
    """
    if optimize == "rmse":
        return float(np.sqrt(np.mean((y - pred) ** 2)))
    if optimize == "mae":
        return float(np.mean(np.abs(y - pred)))
    if optimize == "r2":
        return float(metrics.r2_score(y, pred))
    proba = _as_proba(pred)
    k = proba.shape[1]
    if optimize == "log_loss":
        clipped = np.clip(proba, _EPSILON, 1 - _EPSILON)
        return float(
            metrics.log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=range(k))
        )
    if optimize == "roc_auc":
        if len(np.unique(y)) < k:
            return float("nan")
        if k == 2:
            return float(metrics.roc_auc_score(y, proba[:, 1]))
        return float(metrics.roc_auc_score(y, proba, multi_class="ovr", labels=range(k)))
    threshold = choose_threshold(y, proba[:, 1], optimize) if k == 2 else None
    predicted = decide(proba, threshold)
    if optimize == "balanced_accuracy":
        return float(metrics.balanced_accuracy_score(y, predicted))
    if optimize == "f1":
        average = "binary" if k == 2 else "macro"
        return float(metrics.f1_score(y, predicted, average=average, zero_division=0))
    return float(np.mean(predicted == y))
