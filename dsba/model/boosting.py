"""One XGBoost fit with early stopping on a validation part, shared by every task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from dsba.data.schema import FeatureSchema
from dsba.model.decision import Decision
from dsba.model.linear import is_linear, take_rows
from dsba.model.weights import weighted_matrix

# progress(round_done, total_rounds): called after every boosting round.
ProgressCallback = Callable[[int, int], None]
# Past this many fit rows the train learning curve is read on a seeded sample of them:
# scoring every fit row each round cost ~20% of training time on 144,000 rows.
TRAIN_CURVE_ROWS = 10_000


@dataclass
class TrainingResult:
    """A fitted booster with its schema, evaluation and bookkeeping."""

    booster: xgb.Booster
    schema: FeatureSchema
    params: dict[str, Any]
    evaluation: dict[str, Any]
    rows: dict[str, int]
    best_iteration: int
    duration_seconds: float
    # What monitoring compares served rows against (None: not computed, e.g. on Dask).
    reference: dict[str, Any] | None = None
    # Regression: how intervals are computed at predict time (metadata["intervals"]) and
    # extra JSON artifacts to store with the version (an interval booster in XGBoost JSON).
    intervals: dict[str, Any] | None = None
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How probabilities become labels (threshold, calibration); None: the most probable class.
    decision: Decision | None = None
    # metadata["search"] when a hyperparameter search chose the parameters.
    search: dict[str, Any] | None = None


class RoundProgress(xgb.callback.TrainingCallback):
    """Forward each finished round to a plain callable."""

    def __init__(self, callback: ProgressCallback, total: int) -> None:
        super().__init__()
        self.callback, self.total = callback, total

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.callback(epoch + 1, self.total)
        return False


def curve_matrix(
    whole: xgb.DMatrix,
    x: Any,
    y: np.ndarray,
    power: float,
    seed: int,
    threads: int,
    limit: int = TRAIN_CURVE_ROWS,
) -> xgb.DMatrix:
    """The matrix the train learning curve is read on: whole, or a seeded sample past limit."""
    if len(y) <= limit:
        return whole
    rows = np.random.default_rng(seed).choice(len(y), limit, replace=False)
    return weighted_matrix(take_rows(x, rows), y[rows], power, threads, reference=y)


def fit_booster(
    native: dict[str, Any],
    fit: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    checked: dict[str, Any],
    seed: int,
    threads: int,
    progress: ProgressCallback | None = None,
    curve_rows: int = TRAIN_CURVE_ROWS,
) -> tuple[xgb.Booster, int, dict[str, dict[str, list[float]]]]:
    """Boost on fit, stop early on validation; return the trimmed booster, best round, curves."""
    (x_fit, y_fit), (x_val, y_val) = fit, validation
    # A classifier's class weighting (a regression's params have no class_weight).
    power = checked.get("class_weight", 0.0)
    d_fit = weighted_matrix(x_fit, y_fit, power, threads)
    d_val = weighted_matrix(x_val, y_val, power, threads, reference=y_fit)
    d_curve = curve_matrix(d_fit, x_fit, y_fit, power, seed, threads, curve_rows)
    evals_result: dict[str, dict[str, list[float]]] = {}
    total = checked["n_estimators"]
    booster = xgb.train(
        native,
        d_fit,
        num_boost_round=total,
        evals=[(d_curve, "train"), (d_val, "validation")],
        early_stopping_rounds=checked["early_stopping_rounds"],
        evals_result=evals_result,
        verbose_eval=False,
        callbacks=[RoundProgress(progress, total)] if progress else None,
    )
    best = int(booster.best_iteration)
    if is_linear(native):
        # A linear booster cannot be sliced; coordinate descent is deterministic, so fitting
        # again for the best round count gives the same model as the first fit had then.
        return xgb.train(native, d_fit, num_boost_round=best + 1), best, evals_result
    # Keep only the trees up to the best round, so serving needs no iteration_range.
    return booster[: best + 1], best, evals_result
