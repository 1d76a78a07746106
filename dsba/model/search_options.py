"""What a search takes: its limits, its metric's direction, its progress callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsba.errors import InvalidInput

# progress({"trial", "total", "seconds_left", "best", "metric"}): called after every trial.
SearchProgress = Callable[[dict[str, Any]], None]
TIME_BUDGET_RANGE = (10.0, 86_400.0)
TRIALS_RANGE = (1, 10_000)
# Metrics where larger is better; the others (log_loss, rmse, mae) are minimised.
MAXIMIZED = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "r2")


def direction(optimize: str) -> str:
    """Optuna's direction for a metric: maximize or minimize."""
    return "maximize" if optimize in MAXIMIZED else "minimize"


def check_search(time_budget: Any, trials: Any) -> tuple[float | None, int | None]:
    """Return (time_budget seconds, trials) checked for type and range; None where not given."""
    budget = None
    if time_budget is not None:
        low, high = TIME_BUDGET_RANGE
        if (
            isinstance(time_budget, bool)
            or not _number(time_budget)
            or not (low <= float(time_budget) <= high)
        ):
            raise InvalidInput(
                f"time_budget must be a number of seconds between {low:g} and {high:g}, "
                f"got {time_budget!r}",
                {"time_budget": "invalid"},
            )
        budget = float(time_budget)
    count = None
    if trials is not None:
        low, high = TRIALS_RANGE
        if isinstance(trials, bool) or not _number(trials) or not float(trials).is_integer():
            raise InvalidInput(
                f"trials must be a whole number between {low} and {high}, got {trials!r}",
                {"trials": "invalid"},
            )
        if not low <= int(float(trials)) <= high:
            raise InvalidInput(
                f"trials must be between {low} and {high}, got {trials!r}", {"trials": "invalid"}
            )
        count = int(float(trials))
    return budget, count


def _number(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number == number and abs(number) != float("inf")
