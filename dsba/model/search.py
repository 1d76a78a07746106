"""A hyperparameter search under a time or trial budget: Optuna's TPE over the candidates.

Imported only when a search is asked for, so training without one never loads Optuna.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import cpu_count
from typing import Any

import numpy as np
import optuna
import pandas as pd
import xgboost as xgb

from dsba.model.params import validate_params
from dsba.model.search_folds import Folds, fold_plan
from dsba.model.search_options import SearchProgress, direction
from dsba.model.search_score import score
from dsba.model.search_space import Candidate, SearchSetup, candidates, start_params

# Trials that are never pruned after the starts, so the pruner's median means something.
PRUNER_STARTUP = 3
# Share of the time budget the trials may use: the winner's refit and evaluation follow.
SEARCH_SHARE = 0.85


@dataclass
class SearchOutcome:
    """The winner's full parameters, candidate and rounds, and the study behind them."""

    params: dict[str, Any]
    candidate: str
    rounds: int
    score: float
    trial: int
    study: optuna.Study
    validation: str


class _Objective:
    """One trial: pick a candidate and parameters, fit every fold, score the held rows."""

    def __init__(
        self,
        x: pd.DataFrame,
        y: np.ndarray,
        setup: SearchSetup,
        raw: dict[str, Any],
        native_of: Callable[[dict[str, Any]], dict[str, Any]],
        linear_x: Callable[[], np.ndarray],
        seed: int,
        threads: int,
        deadline: float | None,
    ) -> None:
        self.x, self.y, self.setup, self.raw, self.native_of = x, y, setup, raw, native_of
        self.linear_x, self.threads, self.deadline = linear_x, threads, deadline
        self.candidates = candidates(setup)
        self.starts = [(c, start_params(s, setup)) for c in self.candidates for s in c.starts]
        fraction = validate_params(raw, regression=setup.regression)["validation_fraction"]
        self.rows, self.validation = fold_plan(y, setup.regression, seed, fraction)
        self.folds: dict[str, Folds] = {}
        # Folds of k-fold data are small: each fits on one thread, several at once. One
        # XGBoost fit spread over threads waits for all of them every round, which on small
        # data costs more than it gains (on a busy 2-core machine 3.5 ms a round on one
        # thread, 240 ms on two); the validation part of large data uses every thread.
        self.workers = 1 if len(self.rows) == 1 else min(len(self.rows), threads or cpu_count())
        self.pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def folds_of(self, candidate: Candidate) -> Folds:
        """The candidate's fold matrices, built the first time it is tried."""
        if candidate.name not in self.folds:
            x = self.linear_x() if candidate.linear else self.x
            weighted = not self.setup.regression
            self.folds[candidate.name] = Folds(x, self.y, self.rows, self.threads, weighted)
        return self.folds[candidate.name]

    def _plan(self, trial: optuna.Trial) -> tuple[Candidate, dict[str, Any]]:
        if trial.number < len(self.starts):
            return self.starts[trial.number]
        chosen = self.candidates[0]
        if len(self.candidates) > 1:
            name = trial.suggest_categorical("candidate", [c.name for c in self.candidates])
            chosen = next(c for c in self.candidates if c.name == name)
        return chosen, chosen.suggest(trial, self.setup)

    def __call__(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        candidate, searched = self._plan(trial)
        trial.set_user_attr("candidate", candidate.name)
        trial.set_user_attr("params", searched)
        params = validate_params({**self.raw, **searched}, regression=self.setup.regression)
        native = self.native_of(params)
        if len(self.rows) > 1:
            native["nthread"] = 1
        # The starts always finish: the search then never ends with nothing to refit.
        deadline = None if trial.number < len(self.starts) else self.deadline
        matrices, folds = self.folds_of(candidate), self.rows
        oof: np.ndarray | None = None
        rounds: list[int] = []
        value = float("nan")
        batches = [
            range(i, min(i + self.workers, len(folds))) for i in range(0, len(folds), self.workers)
        ]
        for number, steps in enumerate(batches):

            def fit(step: int) -> tuple[np.ndarray, int, bool]:
                return matrices.fit(step, native, params, deadline)

            fitted = list(self.pool.map(fit, steps)) if self.pool else [fit(s) for s in steps]
            for step, (predicted, best, timed_out) in zip(steps, fitted, strict=True):
                if timed_out:
                    raise optuna.TrialPruned("out of time")
                if oof is None:
                    oof = np.zeros((len(self.y), *predicted.shape[1:]))
                oof[folds[step][1]] = predicted
                rounds.append(best)
            seen = np.concatenate([rows for _, rows in folds[: steps[-1] + 1]])
            value = score(self.setup.optimize, self.y[seen], oof[seen])
            trial.set_user_attr("rounds", int(round(float(np.mean(rounds)))))
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
            if number < len(batches) - 1:
                trial.report(value, number)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return value

    def close(self) -> None:
        """Stop the fold threads."""
        if self.pool is not None:
            self.pool.shutdown()


def _study(optimize: str, seed: int, startup: int, warmup: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        # multivariate TPE is marked experimental; it models parameters jointly, which
        # finds good regions of a tree's space in fewer trials than independent TPE.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    return optuna.create_study(
        direction=direction(optimize),
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup),
    )


def run_search(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    setup: SearchSetup,
    raw: dict[str, Any],
    native_of: Callable[[dict[str, Any]], dict[str, Any]],
    linear_x: Callable[[], np.ndarray],
    seed: int,
    threads: int,
    time_budget: float | None,
    trials: int | None,
    progress: SearchProgress | None = None,
) -> SearchOutcome:
    """Search on (x, y) only (the caller keeps the test part out); return the winner.

    linear_x() gives the same rows as the linear candidate's inputs (called when first needed).
    """
    started = time.monotonic()
    timeout = None if time_budget is None else time_budget * SEARCH_SHARE
    deadline = None if timeout is None else started + timeout
    objective = _Objective(x, y, setup, raw, native_of, linear_x, seed, threads, deadline)
    # Pruned only once two folds are scored: one small fold's score is too noisy to judge.
    warmup = 0 if objective.workers > 1 else 1
    study = _study(setup.optimize, seed, PRUNER_STARTUP + len(objective.starts), warmup)

    def report(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        if progress is None:
            return
        left = None if deadline is None else round(max(0.0, deadline - time.monotonic()), 1)
        progress(
            {
                "trial": len(study.trials),
                "total": trials,
                "seconds_left": left,
                "best": _best_value(study),
                "metric": setup.optimize,
            }
        )

    try:
        study.optimize(
            objective,
            n_trials=trials,
            timeout=timeout,
            callbacks=[report],
            catch=(xgb.core.XGBoostError,),
            gc_after_trial=False,
        )
    finally:
        objective.close()
    best = study.best_trial
    searched = best.user_attrs["params"]
    params = validate_params({**raw, **searched}, regression=setup.regression)
    return SearchOutcome(
        params=params,
        candidate=best.user_attrs["candidate"],
        rounds=best.user_attrs["rounds"],
        score=float(best.value),
        trial=best.number + 1,
        study=study,
        validation=objective.validation,
    )


def _best_value(study: optuna.Study) -> float | None:
    try:
        return round(float(study.best_value), 6)
    except ValueError:  # no trial has completed yet
        return None
