"""Split, fit XGBoost with early stopping on a validation part, evaluate on the test part."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import train_test_split

from dsba.data.schema import FeatureSchema, encode_target, infer_schema, prepare_features
from dsba.errors import InvalidInput
from dsba.model.calibration import apply_map
from dsba.model.decision import Decision, decision_evaluation, fit_decision
from dsba.model.evaluation import evaluate
from dsba.model.params import validate_params
from dsba.model.threshold import check_optimize, decide
from dsba.monitoring.reference import build_reference

# progress(round_done, total_rounds): called after every boosting round.
ProgressCallback = Callable[[int, int], None]
# Past this many fit rows the train learning curve is read on a seeded sample of them:
# scoring every fit row each round cost ~20% of training time on 144,000 rows.
TRAIN_CURVE_ROWS = 10_000
# The reference's predicted class shares also count this many training rows: a small test
# part alone makes a prediction-drift bound too wide to ever fire on a small window.
REFERENCE_TRAIN_ROWS = 100_000


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
    # How probabilities become labels (threshold, calibration); None: the most probable class.
    decision: Decision | None = None


class _Progress(xgb.callback.TrainingCallback):
    """Forward each finished round to a plain callable."""

    def __init__(self, callback: ProgressCallback, total: int) -> None:
        super().__init__()
        self.callback, self.total = callback, total

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.callback(epoch + 1, self.total)
        return False


def booster_params(params: dict[str, Any], n_classes: int, seed: int, threads: int) -> dict:
    """XGBoost's native parameters for our validated user parameters."""
    binary = n_classes == 2
    native = {
        "objective": "binary:logistic" if binary else "multi:softprob",
        "eval_metric": ["error", "logloss"] if binary else ["merror", "mlogloss"],
        "tree_method": "hist",
        "eta": params["learning_rate"],
        "max_depth": params["max_depth"],
        "min_child_weight": params["min_child_weight"],
        "subsample": params["subsample"],
        "colsample_bytree": params["colsample_bytree"],
        "lambda": params["reg_lambda"],
        "alpha": params["reg_alpha"],
        "gamma": params["gamma"],
        "max_bin": params["max_bin"],
        "max_cat_to_onehot": params["max_cat_to_onehot"],
        "seed": seed,
        "nthread": threads or 0,
    }
    if not binary:
        native["num_class"] = n_classes
    return native


def _split(x: pd.DataFrame, y: np.ndarray, size: float, seed: int, what: str):
    try:
        return train_test_split(x, y, test_size=size, random_state=seed, stratify=y)
    except ValueError as exc:
        raise InvalidInput(
            f"cannot make a stratified {what} split ({exc}); add rows or change the size"
        ) from exc


def train_model(
    frame: pd.DataFrame,
    target: str,
    *,
    params: dict[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 42,
    threads: int = 0,
    max_categories: int = 1000,
    progress: ProgressCallback | None = None,
    optimize: str | None = None,
) -> TrainingResult:
    """Train and evaluate a classifier predicting target from the other columns of frame."""
    started = time.perf_counter()
    optimize = check_optimize(optimize)
    if not 0.05 <= test_size <= 0.5:
        raise InvalidInput(f"test_size must be between 0.05 and 0.5, got {test_size}")
    checked = validate_params(params)
    schema = infer_schema(frame, target, max_categories=max_categories)
    # A positional index, so the training part's raw rows can be picked for the reference.
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    y = encode_target(schema, labelled[target])
    x, _ = prepare_features(schema, labelled)
    x_train, x_test, y_train, y_test = _split(x, y, test_size, seed, "train/test")
    x_fit, x_val, y_fit, y_val = _split(
        x_train, y_train, checked["validation_fraction"], seed, "validation"
    )
    native = booster_params(checked, len(schema.classes), seed, threads)
    binary = len(schema.classes) == 2
    d_fit = xgb.DMatrix(x_fit, y_fit, enable_categorical=True, nthread=threads or 0)
    d_val = xgb.DMatrix(x_val, y_val, enable_categorical=True, nthread=threads or 0)
    d_curve = d_fit
    if len(y_fit) > TRAIN_CURVE_ROWS:
        rows = np.random.default_rng(seed).choice(len(y_fit), TRAIN_CURVE_ROWS, replace=False)
        d_curve = xgb.DMatrix(
            x_fit.iloc[rows], y_fit[rows], enable_categorical=True, nthread=threads or 0
        )
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
        callbacks=[_Progress(progress, total)] if progress else None,
    )
    best = int(booster.best_iteration)
    # Keep only the trees up to the best round, so serving needs no iteration_range.
    booster = booster[: best + 1]
    proba = _probabilities(booster, x_test, len(schema.classes))
    decision = Decision(optimize)
    if binary:
        decision = fit_decision(
            optimize, native, x_train, y_train, best + 1, seed=seed, threads=threads
        )
        extra = decision_evaluation(y_test, proba[:, 1], decision)
        proba = _probabilities(booster, x_test, 2, decision.calibration)
    majority = int(np.bincount(y_train).argmax())
    evaluation = evaluate(
        booster, schema, y_test, proba, majority, evals_result, decision.threshold
    )
    if binary:
        evaluation.update(extra)
    importance = {item["feature"]: item["gain"] for item in evaluation["feature_importance"]}
    reference = build_reference(
        [(f.name, f.kind) for f in schema.features],
        labelled.iloc[x_train.index.to_numpy()],
        y_test,
        proba,
        schema.classes,
        importance,
        train_predicted=_predicted_sample(booster, x_train, len(schema.classes), seed, decision),
        predicted=decide(proba, decision.threshold),
    )
    return TrainingResult(
        booster=booster,
        schema=schema,
        params=checked,
        evaluation=evaluation,
        rows={
            "total": len(frame),
            "labelled": len(labelled),
            "train": len(y_fit),
            "validation": len(y_val),
            "test": len(y_test),
        },
        best_iteration=best,
        duration_seconds=round(time.perf_counter() - started, 3),
        reference=reference,
        decision=decision,
    )


def _predicted_sample(
    booster: xgb.Booster, x: pd.DataFrame, n_classes: int, seed: int, decision: Decision
):
    """Predicted classes of (a seeded sample of) the training part, for the reference."""
    if len(x) > REFERENCE_TRAIN_ROWS:
        x = x.iloc[np.random.default_rng(seed).choice(len(x), REFERENCE_TRAIN_ROWS, replace=False)]
    proba = _probabilities(booster, x, n_classes, decision.calibration)
    return decide(proba, decision.threshold)


def _probabilities(
    booster: xgb.Booster, x: pd.DataFrame, n_classes: int, calibration: dict | None = None
) -> np.ndarray:
    raw = booster.inplace_predict(x)
    if n_classes == 2:
        raw = apply_map(calibration, raw)
    return np.column_stack([1.0 - raw, raw]) if n_classes == 2 else raw
