"""Search, refit the winner on every searched row, and summarise it for the version."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pandas as pd
import xgboost as xgb

from dsba.model.boosting import ProgressCallback, RoundProgress, curve_matrix
from dsba.model.linear import LINEAR, linear_inputs
from dsba.model.search import SearchOutcome, run_search
from dsba.model.search_folds import VALIDATION_PART
from dsba.model.search_options import SearchProgress, direction
from dsba.model.search_space import SearchSetup
from dsba.model.weights import weighted_matrix

LEADERBOARD_ROWS = 100
_STATES = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed",
}


def leaderboard(study: optuna.Study, optimize: str) -> list[dict[str, Any]]:
    """Every finished trial, best first (complete, then pruned, then failed), at most 100."""
    sign = 1.0 if direction(optimize) == "minimize" else -1.0
    rows = []
    for trial in study.trials:
        state = _STATES.get(trial.state)
        if state is None:
            continue
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        rows.append(
            {
                "trial": trial.number + 1,
                "candidate": trial.user_attrs.get("candidate"),
                "params": trial.user_attrs.get("params", {}),
                "score": None if value is None or np.isnan(value) else round(float(value), 6),
                "seconds": trial.user_attrs.get("seconds"),
                "state": state,
            }
        )
    order = {"complete": 0, "pruned": 1, "failed": 2}
    rows.sort(
        key=lambda r: (
            order[r["state"]],
            r["score"] is None,
            sign * (r["score"] or 0.0),
            r["trial"],
        )
    )
    return rows[:LEADERBOARD_ROWS]


def summary(
    outcome: SearchOutcome,
    optimize: str,
    time_budget: float | None,
    trials: int | None,
    seconds: float,
) -> dict[str, Any]:
    """metadata["search"]: the budget, how trials were scored, the winner and leaderboard."""
    return {
        "optimize": optimize,
        "direction": direction(optimize),
        "time_budget": time_budget,
        "trials": trials,
        "validation": outcome.validation,
        "seconds": round(seconds, 3),
        "trials_done": len(outcome.study.trials),
        "winner": {
            "trial": outcome.trial,
            "candidate": outcome.candidate,
            "params": outcome.study.trials[outcome.trial - 1].user_attrs["params"],
            "score": round(outcome.score, 6),
            "rounds": outcome.rounds,
        },
        "leaderboard": leaderboard(outcome.study, optimize),
    }


def refit(
    native: dict[str, Any],
    x: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    rounds: int,
    *,
    seed: int,
    threads: int,
    progress: ProgressCallback | None = None,
) -> tuple[xgb.Booster, dict[str, dict[str, list[float]]]]:
    """Boost rounds on every searched row; the train curve is read on a sample of them."""
    power = params.get("class_weight", 0.0)
    d_all = weighted_matrix(x, y, power, threads)
    d_curve = curve_matrix(d_all, x, y, power, seed, threads)
    evals_result: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        native,
        d_all,
        num_boost_round=rounds,
        evals=[(d_curve, "train")],
        evals_result=evals_result,
        verbose_eval=False,
        callbacks=[RoundProgress(progress, rounds)] if progress else None,
    )
    return booster, evals_result


def search_and_refit(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    setup: SearchSetup,
    raw: dict[str, Any],
    native_of: Callable[[dict[str, Any]], dict[str, Any]],
    linear_encoding: dict[str, Any],
    seed: int,
    threads: int,
    time_budget: float | None,
    trials: int | None,
    progress: ProgressCallback | None,
    search_progress: SearchProgress | None,
) -> tuple[dict[str, Any], xgb.Booster, int, dict, dict[str, Any]]:
    """Search on (x, y), refit the winner on all of it; (params, booster, best, curves, summary).

    The params returned are the winner's full validated parameters, with n_estimators set to
    the rounds the folds chose, so a retrain with them needs no search.
    """
    started = time.monotonic()
    encoded: list[np.ndarray] = []

    def linear_x() -> np.ndarray:
        if not encoded:
            encoded.append(linear_inputs(linear_encoding, x))
        return encoded[0]

    outcome = run_search(
        x,
        y,
        setup=setup,
        raw=raw,
        native_of=native_of,
        linear_x=linear_x,
        seed=seed,
        threads=threads,
        time_budget=time_budget,
        trials=trials,
        progress=search_progress,
    )
    params = outcome.params | {"n_estimators": outcome.rounds}
    native = native_of(params)
    if outcome.validation != VALIDATION_PART:
        native["nthread"] = 1  # k-fold data is small: one thread, as the folds (search.py)
    booster, evals_result = refit(
        native,
        linear_x() if params["booster"] == LINEAR else x,
        y,
        params,
        outcome.rounds,
        seed=seed,
        threads=threads,
        progress=progress,
    )
    seconds = time.monotonic() - started
    return (
        params,
        booster,
        outcome.rounds - 1,
        evals_result,
        summary(outcome, setup.optimize, time_budget, trials, seconds),
    )
