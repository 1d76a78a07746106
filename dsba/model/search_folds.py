"""The rows a search scores on (k folds or the validation part), built once for every trial."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from dsba.model.linear import is_linear, take_rows
from dsba.model.weights import class_weights

# Cross-validation while the searched rows are few: 5 folds up to 10,000 rows, 3 up to
# 50,000. A k-fold trial costs k fits on (k-1)/k of the rows; past 50,000 rows a 3-fold
# trial of the defaults takes several seconds on two cores, so a 60 s budget would see
# only a handful of trials, while a validation part of 5,000+ rows already scores a trial
# with little noise (the standard error of an accuracy near 0.9 is below 0.5 points).
FIVE_FOLD_ROWS = 10_000
CV_ROWS = 50_000
VALIDATION_PART = "validation part"


def fold_plan(
    y: np.ndarray, regression: bool, seed: int, validation_fraction: float
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(fit rows, held rows) pairs and how they are described ("5-fold", "validation part")."""
    n = len(y)
    k = 5 if n <= FIVE_FOLD_ROWS else 3
    if not regression:
        k = min(k, int(np.bincount(y).min()))
    if n <= CV_ROWS and k >= 2:
        split = KFold if regression else StratifiedKFold
        folds = list(split(k, shuffle=True, random_state=seed).split(np.zeros(n), y))
        return folds, f"{k}-fold"
    # The same rows today's training stops early on.
    fit, held = train_test_split(
        np.arange(n),
        test_size=validation_fraction,
        random_state=seed,
        stratify=None if regression else y,
    )
    return [(fit, held)], VALIDATION_PART


class _Deadline(xgb.callback.TrainingCallback):
    """Stop boosting once the search's time is up."""

    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self.deadline = deadline

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


class Folds:
    """Each fold's fit and held DMatrix for one kind of input, built once for every trial."""

    def __init__(
        self,
        x: pd.DataFrame | np.ndarray,
        y: np.ndarray,
        folds: list[tuple[np.ndarray, np.ndarray]],
        threads: int,
        weighted: bool,
    ) -> None:
        self.y, self.folds, self.weighted = y, folds, weighted
        self.matrices = [
            (self._matrix(x, y, fit, threads), self._matrix(x, y, held, threads))
            for fit, held in folds
        ]

    @staticmethod
    def _matrix(x: Any, y: np.ndarray, rows: np.ndarray, threads: int) -> xgb.DMatrix:
        return xgb.DMatrix(
            take_rows(x, rows), y[rows], enable_categorical=True, nthread=threads or 0
        )

    def fit(
        self, step: int, native: dict, params: dict[str, Any], deadline: float | None
    ) -> tuple[np.ndarray, int, bool]:
        """Boost on fold step, stop early on its held rows: (held predictions, rounds, late)."""
        d_fit, d_held = self.matrices[step]
        if self.weighted:
            fit_rows, held_rows = self.folds[step]
            power = params.get("class_weight", 0.0)
            y_fit = self.y[fit_rows]
            d_fit.set_weight(_or_ones(class_weights(y_fit, power), len(fit_rows)))
            d_held.set_weight(
                _or_ones(class_weights(self.y[held_rows], power, y_fit), len(held_rows))
            )
        booster = xgb.train(
            native,
            d_fit,
            num_boost_round=params["n_estimators"],
            evals=[(d_held, "held")],
            early_stopping_rounds=params["early_stopping_rounds"],
            verbose_eval=False,
            callbacks=[_Deadline(deadline)],
        )
        if deadline is not None and time.monotonic() > deadline:
            # Stopped by the clock, perhaps before early stopping noted a best round.
            return np.empty(0), 0, True
        best = int(booster.best_iteration)
        if is_linear(native):
            # A linear booster predicts with all its rounds; coordinate descent is
            # deterministic, so boosting again to the best round gives that round's model.
            booster = xgb.train(native, d_fit, num_boost_round=best + 1)
            return booster.predict(d_held), best + 1, False
        return booster.predict(d_held, iteration_range=(0, best + 1)), best + 1, False


def _or_ones(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Weights, or ones: a DMatrix keeps the weights of the trial before otherwise."""
    return np.ones(n) if weights is None else weights
