"""The candidates a search tries: each a name, a parameter space and fixed first trials."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dsba.model.params import LINEAR_OBJECTIVES

# Searched trees may boost this long; early stopping inside each fold sets the real count.
SEARCH_ROUNDS = 2000
SEARCH_PATIENCE = 50
# Coordinate descent converges in tens of rounds at the linear booster's steps.
LINEAR_ROUNDS = 500
LINEAR_PATIENCE = 20
# Metrics that count every class alike: there class weighting is a search dimension.
BALANCED_METRICS = ("balanced_accuracy", "f1")


@dataclass(frozen=True)
class SearchSetup:
    """What shapes the space: the task, the metric and the parameters the user fixed."""

    @classmethod
    def of(cls, regression: bool, optimize: str, raw: dict[str, Any]) -> SearchSetup:
        """The setup for the user's raw parameters (those they gave stay fixed)."""
        return cls(regression, optimize, frozenset(raw), raw.get("booster"), raw.get("objective"))

    regression: bool
    optimize: str
    fixed: frozenset[str] = frozenset()
    # The booster the user asked for (None: every candidate competes), and the objective.
    booster: str | None = None
    objective: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A model family: its space (trial -> user parameters) and the trials it starts with.

    A start is a dict of user parameters tried before any sampled trial; {} is the defaults.
    """

    name: str
    suggest: Callable[[Any, SearchSetup], dict[str, Any]]
    starts: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # Whether it learns from the linear encoding (standardised, one-hot) of the rows.
    linear: bool = False


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
    if setup.regression and setup.optimize == "mae":
        params["objective"] = trial.suggest_categorical(
            "objective", ["reg:squarederror", "reg:absoluteerror"]
        )
    return _finish(trial, params, setup)


def linear_space(trial: Any, setup: SearchSetup) -> dict[str, Any]:
    """A gblinear trial's parameters: its step and penalties (XGBoost scales those by rows)."""
    params: dict[str, Any] = {
        "booster": "gblinear",
        "learning_rate": trial.suggest_float("linear_learning_rate", 0.05, 1.0, log=True),
        "reg_lambda": trial.suggest_float("linear_reg_lambda", 1e-5, 1.0, log=True),
        "reg_alpha": trial.suggest_float("linear_reg_alpha", 1e-6, 0.1, log=True),
        "n_estimators": LINEAR_ROUNDS,
        "early_stopping_rounds": LINEAR_PATIENCE,
    }
    return _finish(trial, params, setup)


def _finish(trial: Any, params: dict[str, Any], setup: SearchSetup) -> dict[str, Any]:
    """Add class weighting where the metric counts classes alike; drop what the user fixed."""
    if not setup.regression and setup.optimize in BALANCED_METRICS:
        params["class_weight"] = trial.suggest_categorical("class_weight", [0.0, 0.5, 1.0])
    return {k: _readable(v) for k, v in params.items() if k not in setup.fixed}


def _readable(value: Any) -> Any:
    """A sampled float to 4 significant digits (0.448, not 0.44803196268)."""
    # The trial trains with the rounded value, so the stored parameters are what ran.
    return float(f"{value:.4g}") if isinstance(value, float) else value


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


# The linear booster with its own defaults (dsba.model.params.LINEAR_DEFAULTS).
LINEAR = Candidate("gblinear", linear_space, starts=({"booster": "gblinear"},), linear=True)


def candidates(setup: SearchSetup) -> list[Candidate]:
    """The candidates searched for this task: both boosters, or the one the user chose."""
    if setup.booster is not None:
        return [c for c in (TREE, LINEAR) if c.name == setup.booster]
    if setup.objective not in (None, *LINEAR_OBJECTIVES):
        return [TREE]  # the linear booster does not fit this objective well
    return [TREE, LINEAR]


def start_params(start: dict[str, Any], setup: SearchSetup) -> dict[str, Any]:
    """A start's parameters without those the user fixed."""
    return {k: v for k, v in start.items() if k not in setup.fixed}
