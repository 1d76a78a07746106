"""The candidates a search tries: each a name, a parameter space and fixed first trials."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Searched trees may boost this long; early stopping inside each fold sets the real count.
SEARCH_ROUNDS = 2000
SEARCH_PATIENCE = 50
# Metrics that count every class alike: there class weighting is a search dimension.
BALANCED_METRICS = ("balanced_accuracy", "f1")


@dataclass(frozen=True)
class SearchSetup:
    """What shapes the space: the task, the metric and the parameters the user fixed."""

    regression: bool
    optimize: str
    fixed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Candidate:
    """A model family: its space (trial -> user parameters) and the trials it starts with.

    A start is a dict of user parameters tried before any sampled trial; {} is the defaults.
    """

    name: str
    suggest: Callable[[Any, SearchSetup], dict[str, Any]]
    starts: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def tree_space(trial: Any, setup: SearchSetup) -> dict[str, Any]:
    """A gbtree trial's parameters: the ranges that matter on tables, log where scale does."""
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.1, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "n_estimators": SEARCH_ROUNDS,
        "early_stopping_rounds": SEARCH_PATIENCE,
    }
    if not setup.regression and setup.optimize in BALANCED_METRICS:
        params["class_weight"] = trial.suggest_categorical("class_weight", [0.0, 0.5, 1.0])
    if setup.regression and setup.optimize == "mae":
        params["objective"] = trial.suggest_categorical(
            "objective", ["reg:squarederror", "reg:absoluteerror"]
        )
    return {k: v for k, v in params.items() if k not in setup.fixed}


# Today's defaults first (the search never loses to them on its own score), then a common
# slower-learning, subsampled configuration that often wins on mid-sized tables.
TREE = Candidate(
    "gbtree",
    tree_space,
    starts=(
        {},
        {
            "learning_rate": 0.05,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "n_estimators": SEARCH_ROUNDS,
            "early_stopping_rounds": SEARCH_PATIENCE,
        },
    ),
)


def candidates(setup: SearchSetup) -> list[Candidate]:
    """The candidates searched for this task (the user's own choices kept fixed)."""
    return [TREE]


def start_params(start: dict[str, Any], setup: SearchSetup) -> dict[str, Any]:
    """A start's parameters without those the user fixed."""
    return {k: v for k, v in start.items() if k not in setup.fixed}
