"""Train a regressor: split, fit with early stopping, calibrate intervals, evaluate on test."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import train_test_split

from dsba.data.schema import FeatureSchema, encode_target, prepare_features
from dsba.errors import InvalidInput
from dsba.model import dense_predict
from dsba.model import intervals as conformal
from dsba.model.boosting import ProgressCallback, TrainingResult, fit_booster
from dsba.model.linear import (
    LINEAR,
    fit_linear_encoding,
    linear_importance,
    linear_params,
    model_inputs,
)
from dsba.model.params import validate_params
from dsba.model.regression_evaluation import evaluate_regression
from dsba.model.search_folds import VALIDATION_PART
from dsba.monitoring.reference import build_regression_reference

# Share of the training part set aside to calibrate intervals (see dsba.model.intervals),
# and a cap: a few thousand rows fix a 90% quantile well; more rows are better spent fitting.
CALIBRATION_FRACTION = 0.2
MAX_CALIBRATION_ROWS = 5_000
# Objectives defined only for some targets: (test, what the target must be).
_TARGET_DOMAIN = {
    "reg:gamma": (lambda y: bool((y > 0).all()), "positive"),
    "reg:tweedie": (lambda y: bool((y >= 0).all()), "zero or positive"),
}


def regression_params(params: dict[str, Any], seed: int, threads: int) -> dict[str, Any]:
    """XGBoost's native parameters for a regressor with our validated user parameters."""
    return {
        "objective": params["objective"],
        "eval_metric": "rmse",
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


def check_objective_target(objective: str, target: str, y: np.ndarray) -> None:
    """Refuse an objective whose domain the target leaves (gamma: y > 0, Tweedie: y >= 0)."""
    domain = _TARGET_DOMAIN.get(objective)
    if domain and not domain[0](y):
        raise InvalidInput(
            f"objective {objective!r} needs a {domain[1]} target; column {target!r} has "
            f"values down to {float(y.min())!r}",
            {"param": "objective"},
        )


def _split(x: pd.DataFrame, y: np.ndarray, size: float | int, seed: int, what: str):
    try:
        return train_test_split(x, y, test_size=size, random_state=seed)
    except ValueError as exc:
        raise InvalidInput(f"cannot make the {what} split ({exc}); add rows") from exc


def staged_progress(progress: ProgressCallback | None, stage: int, total: int):
    """Report a booster's rounds as one half of the whole training (two boosters are fit)."""
    if progress is None:
        return None
    return lambda done, _: progress(stage * total + done, 2 * total)


def _predict(booster: xgb.Booster, x: pd.DataFrame, linear: dict | None = None) -> np.ndarray:
    return np.asarray(dense_predict.predict(booster, x, linear), dtype=np.float64)


def calibrate_and_evaluate(
    booster: xgb.Booster,
    quantile_booster: xgb.Booster,
    schema: FeatureSchema,
    calibration: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    train_mean: float,
    interval: float,
    evals_result: dict[str, dict[str, list[float]]],
    seed: int,
    importance: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], conformal.IntervalModel, np.ndarray]:
    """Calibrate intervals on (y, value, quantiles) of held-out rows; evaluate on the test part.

    Returns the evaluation, the interval model and the test part's [lower, upper] bounds.
    """
    y_cal, predicted_cal, quantiles_cal = calibration
    interval_model = conformal.calibrate(
        y_cal, predicted_cal, quantiles_cal, quantile_booster, interval, seed
    )
    y_test, predicted, quantiles = test
    candidates = conformal.candidate_bounds(interval_model, predicted, quantiles)
    evaluation = evaluate_regression(
        booster,
        schema,
        y_test,
        predicted,
        candidates[interval_model.method],
        train_mean,
        interval_model,
        candidates,
        evals_result,
        seed,
        importance,
    )
    return evaluation, interval_model, candidates[interval_model.method]


def train_regression(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    checked: dict[str, Any],
    *,
    test_size: float,
    seed: int,
    threads: int,
    interval: float,
    progress: ProgressCallback | None,
    started: float,
    search: dict[str, Any] | None = None,
) -> TrainingResult:
    """Train, calibrate and evaluate a regressor of schema.target.

    search (time_budget, trials, raw, optimize, progress) asks for a hyperparameter search
    on the rows the main booster learns from (neither the test nor the calibration part).
    """
    labelled = frame[frame[schema.target].notna()].reset_index(drop=True)
    y = encode_target(schema, labelled[schema.target])
    check_objective_target(checked["objective"], schema.target, y)
    x, _ = prepare_features(schema, labelled)
    x_train, x_test, y_train, y_test = _split(x, y, test_size, seed, "train/test")
    calibration_rows = min(max(round(len(y_train) * CALIBRATION_FRACTION), 2), MAX_CALIBRATION_ROWS)
    x_rest, x_cal, y_rest, y_cal = _split(x_train, y_train, calibration_rows, seed, "calibration")
    x_fit, x_val, y_fit, y_val = _split(
        x_rest, y_rest, checked["validation_fraction"], seed, "validation"
    )
    fit, validation = (x_fit, y_fit), (x_val, y_val)
    searched = None
    tree = checked  # the quantile booster's parameters
    if search is None:
        native = regression_params(checked, seed, threads)
        total = checked["n_estimators"]
        main = native
        if checked["booster"] == LINEAR:
            schema = dataclasses.replace(schema, linear=fit_linear_encoding(schema, x_train))
            main = linear_params(native)
            # The quantile booster is a tree: a linear model's step (0.5) and penalties are
            # not a tree's, so it takes the tree defaults, as after a search.
            tree = validate_params({"objective": checked["objective"]}, regression=True)
            native = regression_params(tree, seed, threads)
            total = max(total, tree["n_estimators"])
        booster, best, evals_result = fit_booster(
            main,
            (model_inputs(schema, x_fit), y_fit),
            (model_inputs(schema, x_val), y_val),
            checked,
            seed,
            threads,
            staged_progress(progress, 0, total),
        )
        fit_rows, validation_rows = len(y_fit), len(y_val)
    else:
        encoding = fit_linear_encoding(schema, x_train)
        checked, booster, best, evals_result, searched = _search(
            x_rest, y_rest, checked, search, seed, threads, progress, encoding
        )
        tree = checked
        if checked["booster"] == LINEAR:
            schema = dataclasses.replace(schema, linear=encoding)
            # The quantile booster is a tree: the linear winner's step and penalties are
            # not a tree's, so it takes the tree defaults (with the user's own params).
            mine = {k: v for k, v in search["raw"].items() if k != "booster"}
            tree = validate_params(mine, regression=True)
        # Data searched by k-fold is small: one thread, as the search's folds (search.py).
        small = searched["validation"] != VALIDATION_PART
        native = regression_params(tree, seed, 1 if small else threads)
        total = max(checked["n_estimators"], tree["n_estimators"])
        fit_rows, validation_rows = len(y_rest), 0
    # The interval's quantile booster stays a tree model on the prepared inputs, whatever
    # the main booster: it only has to rank rows by their noise, which trees do well.
    quantile_booster, _, _ = fit_booster(
        conformal.quantile_params(native, interval),
        fit,
        validation,
        tree,
        seed,
        threads,
        staged_progress(progress, 1, total),
    )
    linear = schema.linear
    calibration = (y_cal, _predict(booster, x_cal, linear), _predict(quantile_booster, x_cal))
    test = (y_test, _predict(booster, x_test, linear), _predict(quantile_booster, x_test))
    evaluation, interval_model, test_bounds = calibrate_and_evaluate(
        booster,
        quantile_booster,
        schema,
        calibration,
        test,
        float(np.mean(y_train)),
        interval,
        evals_result,
        seed,
        linear_importance(booster, schema, x_test),
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
            "calibration": len(y_cal),
            "test": len(y_test),
        },
        best_iteration=best,
        duration_seconds=round(time.perf_counter() - started, 3),
        reference=build_regression_reference(
            [(f.name, f.kind) for f in schema.features],
            labelled.iloc[x_train.index.to_numpy()],
            test[0],
            test[1],
            {item["feature"]: item["gain"] for item in evaluation["feature_importance"]},
            intervals_test=test_bounds,
            # As for classifiers: at most 100,000 training rows' values join the profile.
            train_predicted=_predict(
                booster, x_train.sample(min(len(x_train), 100_000), random_state=seed), linear
            ),
        ),
        intervals=interval_model.metadata(),
        artifacts=interval_model.artifacts(),
        search=searched,
    )


def _search(
    x: pd.DataFrame,
    y: np.ndarray,
    checked: dict[str, Any],
    search: dict[str, Any],
    seed: int,
    threads: int,
    progress: ProgressCallback | None,
    encoding: dict[str, Any],
):
    """Search the main booster's parameters on (x, y) and refit the winner on all of it."""
    # Imported here: training without a search never loads Optuna.
    from dsba.model.search_result import search_and_refit
    from dsba.model.search_space import SearchSetup

    raw = search["raw"]
    return search_and_refit(
        x,
        y,
        setup=SearchSetup.of(True, search["optimize"], raw),
        raw=raw,
        native_of=lambda chosen: _native(chosen, seed, threads),
        linear_encoding=encoding,
        seed=seed,
        threads=threads,
        time_budget=search["time_budget"],
        trials=search["trials"],
        # The refit is the first of the two boosters the progress bar counts.
        progress=_first_half(progress),
        search_progress=search["progress"],
    )


def _native(params: dict[str, Any], seed: int, threads: int) -> dict[str, Any]:
    """Native parameters for params' booster: trees, or the linear booster."""
    native = regression_params(params, seed, threads)
    return linear_params(native) if params["booster"] == LINEAR else native


def _first_half(progress: ProgressCallback | None) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda done, total: progress(done, 2 * total)
