"""Hyperparameters a user may set, with their types, ranges and defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dsba.errors import InvalidInput


@dataclass(frozen=True)
class Param:
    """One tunable hyperparameter."""

    type: type
    default: Any
    low: float
    high: float
    help: str


PARAMS: dict[str, Param] = {
    "n_estimators": Param(int, 300, 1, 5000, "maximum boosting rounds"),
    "learning_rate": Param(float, 0.1, 1e-4, 1.0, "shrinkage per round (eta)"),
    "max_depth": Param(int, 6, 1, 16, "maximum tree depth"),
    "min_child_weight": Param(float, 1.0, 0.0, 1e4, "minimum hessian sum in a leaf"),
    "subsample": Param(float, 1.0, 0.05, 1.0, "row fraction per tree"),
    "colsample_bytree": Param(float, 1.0, 0.05, 1.0, "column fraction per tree"),
    "reg_lambda": Param(float, 1.0, 0.0, 1e4, "L2 regularisation"),
    "reg_alpha": Param(float, 0.0, 0.0, 1e4, "L1 regularisation"),
    "gamma": Param(float, 0.0, 0.0, 1e4, "minimum loss reduction to split"),
    "max_bin": Param(int, 256, 2, 1024, "histogram bins per feature"),
    "max_cat_to_onehot": Param(int, 4, 1, 64, "categories below this use one-hot splits"),
    "early_stopping_rounds": Param(int, 20, 1, 1000, "stop after this many rounds without gain"),
    "validation_fraction": Param(float, 0.1, 0.05, 0.5, "share of training rows for stopping"),
    "class_weight": Param(
        float, 0.0, 0.0, 1.0, "classes weighted by inverse frequency to this power (0: none)"
    ),
}
# Parameters that only mean something for a classifier (a regression refuses them as unknown).
CLASSIFIER_ONLY = ("class_weight",)


# XGBoost's regression objectives a user may pick (regression only; the first is the default).
OBJECTIVES = (
    "reg:squarederror",
    "reg:absoluteerror",
    "reg:pseudohubererror",
    "reg:tweedie",
    "reg:gamma",
)


def _coerce(name: str, spec: Param, value: Any) -> Any:
    if isinstance(value, bool):
        raise InvalidInput(f"parameter {name!r} must be a number", {"param": name})
    try:
        if spec.type is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return float(value)
    except (TypeError, ValueError) as exc:
        kind = "an integer" if spec.type is int else "a number"
        raise InvalidInput(
            f"parameter {name!r} must be {kind}, got {value!r}", {"param": name}
        ) from exc


# The model family: boosted trees (the default, today's model) or XGBoost's linear booster,
# fitted on standardised numbers and one-hot categories (dsba.model.linear).
BOOSTERS = ("gbtree", "gblinear")
# Of PARAMS, the ones a linear booster uses (the others shape trees).
LINEAR_PARAMS = (
    "n_estimators",
    "learning_rate",
    "reg_lambda",
    "reg_alpha",
    "early_stopping_rounds",
    "validation_fraction",
)
# A linear booster's own defaults. XGBoost multiplies gblinear's L1/L2 penalties by the
# number of training rows, so the trees' reg_lambda of 1 shrinks a linear model to almost
# nothing (penguins' species: 0.80 test accuracy; 0.99 at 0.01). Coordinate descent converges
# in a few rounds at a large step; at 0.1 it still moved after 300 rounds on penguins.
LINEAR_DEFAULTS = {"learning_rate": 0.5, "reg_lambda": 0.01}
# The regression objectives a linear booster fits well: on penguins' body mass, absolute error
# was still far off after 300 rounds (R² 0.20) and pseudo-Huber diverged.
LINEAR_OBJECTIVES = ("reg:squarederror", "reg:tweedie", "reg:gamma")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInput(
            f"parameter {name!r} must be one of {', '.join(choices)}, got {value!r}",
            {"param": name},
        )
    return value


def validate_params(raw: dict[str, Any] | None, *, regression: bool = False) -> dict[str, Any]:
    """Return the defaults overridden by raw, each checked for name, type and range.

    Every task takes "booster" (one of BOOSTERS, gbtree by default). A regression also takes
    "objective" (one of OBJECTIVES); a classifier's objective follows from its classes, so
    there it stays an unknown parameter.
    """
    known = {n: s for n, s in PARAMS.items() if not (regression and n in CLASSIFIER_ONLY)}
    result = {name: spec.default for name, spec in known.items()}
    choices = {"booster": BOOSTERS}
    if regression:
        choices["objective"] = OBJECTIVES
    for name, options in choices.items():
        result[name] = _choice(name, (raw or {}).get(name, options[0]), options)
    if result["booster"] == "gblinear":
        result.update(LINEAR_DEFAULTS)
        if result.get("objective", LINEAR_OBJECTIVES[0]) not in LINEAR_OBJECTIVES:
            raise InvalidInput(
                f"booster 'gblinear' takes objective {', '.join(LINEAR_OBJECTIVES)}, "
                f"got {result['objective']!r}",
                {"param": "objective"},
            )
    allowed = sorted([*known, *choices])
    for name, value in (raw or {}).items():
        if name in choices:
            continue
        spec = known.get(name)
        if spec is None:
            raise InvalidInput(
                f"unknown parameter {name!r}; allowed: {', '.join(allowed)}",
                {"param": name},
            )
        coerced = _coerce(name, spec, value)
        if not spec.low <= coerced <= spec.high:
            raise InvalidInput(
                f"parameter {name!r} must be between {spec.low:g} and {spec.high:g}, got {value!r}",
                {"param": name},
            )
        result[name] = coerced
    return result


def parse_param_pairs(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Turn ["k=v", ...] from a command line into a dict."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"parameter {pair!r} must look like name=value")
        parsed[key.strip()] = value.strip()
    return parsed
