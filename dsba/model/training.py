"""Split, fit XGBoost with early stopping on a validation part, evaluate on the test part."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import train_test_split

from dsba.data.column_choices import check_choices, check_kind_values
from dsba.data.schema import FeatureSchema, encode_target, infer_schema, prepare_features
from dsba.errors import InvalidInput
from dsba.model import dense_predict
from dsba.model.boosting import TRAIN_CURVE_ROWS, ProgressCallback, TrainingResult, fit_booster
from dsba.model.calibration import apply_map
from dsba.model.decision import Decision, decision_evaluation, fit_decision
from dsba.model.evaluation import evaluate
from dsba.model.intervals import DEFAULT_INTERVAL, check_interval
from dsba.model.linear import (
    LINEAR,
    fit_linear_encoding,
    linear_importance,
    linear_params,
    model_inputs,
)
from dsba.model.params import validate_params
from dsba.model.regression import train_regression
from dsba.model.search_options import SearchProgress, check_search
from dsba.model.threshold import check_optimize, decide
from dsba.monitoring.reference import build_reference

# The reference's predicted class shares also count this many training rows: a small test
# part alone makes a prediction-drift bound too wide to ever fire on a small window.
REFERENCE_TRAIN_ROWS = 100_000


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


def _native(params: dict[str, Any], n_classes: int, seed: int, threads: int) -> dict:
    """Native parameters for params' booster: trees, or the linear booster."""
    native = booster_params(params, n_classes, seed, threads)
    return linear_params(native) if params["booster"] == LINEAR else native


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
    exclude: list[str] | None = None,
    kinds: dict[str, str] | None = None,
    task: str | None = None,
    interval: float = DEFAULT_INTERVAL,
    optimize: str | None = None,
    time_budget: float | None = None,
    trials: int | None = None,
    search_progress: SearchProgress | None = None,
) -> TrainingResult:
    """Train and evaluate a classifier or regressor predicting target from frame's other columns.

    exclude leaves columns out; kinds gives columns a kind instead of the inferred one.
    optimize names the metric that matters: on a binary target it picks the threshold, and
    it scores a search. time_budget (seconds) and trials bound a hyperparameter search;
    neither given, the given (or default) parameters are trained as they are.
    """
    started = time.perf_counter()
    check_optimize(optimize, regression=None)
    search = check_search(time_budget, trials)
    if not 0.05 <= test_size <= 0.5:
        raise InvalidInput(f"test_size must be between 0.05 and 0.5, got {test_size}")
    check_interval(interval)
    # The same parameter errors, first, as before regression: "objective" waits for the task.
    validate_params({k: v for k, v in (params or {}).items() if k != "objective"})
    exclude, kinds = check_choices(frame.columns, target, exclude, kinds)
    check_kind_values(frame, kinds)
    schema = infer_schema(
        frame, target, max_categories=max_categories, exclude=exclude, kinds=kinds, task=task
    )
    checked = validate_params(params, regression=schema.is_regression)
    optimize = check_optimize(optimize, regression=schema.is_regression)
    if schema.is_regression:
        return train_regression(
            frame,
            schema,
            checked,
            test_size=test_size,
            seed=seed,
            threads=threads,
            interval=interval,
            progress=progress,
            started=started,
            search=_search_request(search, params, optimize, search_progress),
        )
    # A positional index, so the training part's raw rows can be picked for the reference.
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    y = encode_target(schema, labelled[target])
    x, _ = prepare_features(schema, labelled)
    x_train, x_test, y_train, y_test = _split(x, y, test_size, seed, "train/test")
    searched = None
    if search == (None, None):
        x_fit, x_val, y_fit, y_val = _split(
            x_train, y_train, checked["validation_fraction"], seed, "validation"
        )
        native = booster_params(checked, len(schema.classes), seed, threads)
        if checked["booster"] == LINEAR:
            schema = dataclasses.replace(schema, linear=fit_linear_encoding(schema, x_train))
            native = linear_params(native)
        booster, best, evals_result = fit_booster(
            native,
            (model_inputs(schema, x_fit), y_fit),
            (model_inputs(schema, x_val), y_val),
            checked,
            seed,
            threads,
            progress,
            curve_rows=TRAIN_CURVE_ROWS,  # read here, so a test may lower it on this module
        )
        fit_rows, validation_rows = len(y_fit), len(y_val)
    else:
        # Imported here: training without a search never loads Optuna.
        from dsba.model.search_result import search_and_refit
        from dsba.model.search_space import SearchSetup

        n_classes = len(schema.classes)
        encoding = fit_linear_encoding(schema, x_train)
        checked, booster, best, evals_result, searched = search_and_refit(
            x_train,
            y_train,
            setup=SearchSetup.of(False, optimize, dict(params or {})),
            raw=dict(params or {}),
            native_of=lambda chosen: _native(chosen, n_classes, seed, threads),
            linear_encoding=encoding,
            seed=seed,
            threads=threads,
            time_budget=search[0],
            trials=search[1],
            progress=progress,
            search_progress=search_progress,
        )
        if checked["booster"] == LINEAR:
            schema = dataclasses.replace(schema, linear=encoding)
        native = _native(checked, n_classes, seed, threads)
        fit_rows, validation_rows = len(y_train), 0
    binary = len(schema.classes) == 2
    proba = _probabilities(booster, schema, x_test)
    decision = Decision(optimize)
    if binary:
        inputs = model_inputs(schema, x_train)
        decision = fit_decision(
            optimize,
            native,
            inputs,
            y_train,
            best + 1,
            seed=seed,
            threads=threads,
            class_weight=checked["class_weight"],
        )
        extra = decision_evaluation(y_test, proba[:, 1], decision)
        proba = _probabilities(booster, schema, x_test, decision.calibration)
    majority = int(np.bincount(y_train).argmax())
    evaluation = evaluate(
        booster,
        schema,
        y_test,
        proba,
        majority,
        evals_result,
        decision.threshold,
        importance=linear_importance(booster, schema, x_test),
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
        train_predicted=_predicted_sample(booster, schema, x_train, seed, decision),
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
            "train": fit_rows,
            "validation": validation_rows,
            "test": len(y_test),
        },
        best_iteration=best,
        duration_seconds=round(time.perf_counter() - started, 3),
        reference=reference,
        decision=decision,
        search=searched,
    )


def _search_request(
    search: tuple[float | None, int | None],
    params: dict[str, Any] | None,
    optimize: str,
    progress: SearchProgress | None,
) -> dict[str, Any] | None:
    """What a regression's search needs, or None when no search was asked for."""
    if search == (None, None):
        return None
    return {
        "time_budget": search[0],
        "trials": search[1],
        "raw": dict(params or {}),
        "optimize": optimize,
        "progress": progress,
    }


def _predicted_sample(
    booster: xgb.Booster, schema: FeatureSchema, x: pd.DataFrame, seed: int, decision: Decision
):
    """Predicted classes of (a seeded sample of) the training part, for the reference."""
    if len(x) > REFERENCE_TRAIN_ROWS:
        x = x.iloc[np.random.default_rng(seed).choice(len(x), REFERENCE_TRAIN_ROWS, replace=False)]
    proba = _probabilities(booster, schema, x, decision.calibration)
    return decide(proba, decision.threshold)


def _probabilities(
    booster: xgb.Booster, schema: FeatureSchema, x: pd.DataFrame, calibration: dict | None = None
) -> np.ndarray:
    n_classes = len(schema.classes)
    raw = dense_predict.predict(booster, x, schema.linear)
    if n_classes == 2:
        raw = apply_map(calibration, raw)
    return np.column_stack([1.0 - raw, raw]) if n_classes == 2 else raw
