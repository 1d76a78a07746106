"""Calibration of binary probabilities: measure it, fit a map out of fold, store it as numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

RELIABILITY_BINS = 10
# Probabilities are kept this far from 0 and 1: an isotonic step to exactly 0 or 1 would make
# one wrong row cost an infinite log loss.
_EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def fit_map(method: str, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Fit a Platt (sigmoid of the logit) or isotonic map of p to y, as plain JSON numbers."""
    if method == "platt":
        model = LogisticRegression(C=1e4).fit(_logit(p)[:, None], y)
        return {"method": "platt", "a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}
    model = IsotonicRegression(out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS).fit(p, y)
    return {
        "method": "isotonic",
        "x": [round(float(v), 6) for v in model.X_thresholds_],
        "y": [round(float(v), 6) for v in model.y_thresholds_],
    }


def apply_map(calibration: dict[str, Any] | None, p: np.ndarray) -> np.ndarray:
    """The calibrated positive-class probabilities (p itself without a map)."""
    if not calibration:
        return p
    if calibration["method"] == "platt":
        z = calibration["a"] * _logit(p) + calibration["b"]
        return (1.0 / (1.0 + np.exp(-z))).astype(p.dtype)
    return np.interp(p, calibration["x"], calibration["y"]).astype(p.dtype)


def _loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1]))


def choose_map(y: np.ndarray, p: np.ndarray, seed: int) -> tuple[dict | None, dict[str, float]]:
    """The map to apply (None: keep p) and the held-out log losses that decided it.

    y and p are out-of-fold predictions of the training part. Each map is scored by a second
    cross-validation over them (fitted on four folds, scored on the fifth), so the decision
    never sees the rows it is judged on, and the test part stays out of it entirely.
    """
    folds = min(5, int(np.bincount(y, minlength=2).min()))
    losses = {"uncalibrated": _loss(y, p)}
    if folds < 2:
        return None, losses
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for method in ("platt", "isotonic"):
        held_out = np.empty_like(p)
        for fit_rows, score_rows in split.split(p, y):
            fitted = fit_map(method, y[fit_rows], p[fit_rows])
            held_out[score_rows] = apply_map(fitted, p[score_rows])
        losses[method] = _loss(y, held_out)
    best = min(losses, key=losses.get)
    losses = {k: round(v, 6) for k, v in losses.items()}
    if best == "uncalibrated":
        return None, losses
    return fit_map(best, y, p), losses


def reliability(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Expected calibration error and the reliability diagram's bins (mean p vs share positive)."""
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, RELIABILITY_BINS - 1)
    bins, ece = [], 0.0
    for b in range(RELIABILITY_BINS):
        inside = index == b
        n = int(inside.sum())
        if not n:
            continue
        mean_p, observed = float(p[inside].mean()), float(y[inside].mean())
        ece += n / len(p) * abs(mean_p - observed)
        bins.append({"predicted": round(mean_p, 6), "observed": round(observed, 6), "rows": n})
    return {"ece": round(ece, 6), "bins": bins}
