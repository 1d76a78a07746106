"""The search's bounds, checked before a job is queued so a bad value is the caller's 400."""

from __future__ import annotations

from typing import Any

from dsba.errors import InvalidInput

MIN_TIME_BUDGET, MAX_TIME_BUDGET = 10, 86_400
MIN_TRIALS, MAX_TRIALS = 1, 10_000


def _number(key: str, value: Any, low: int, high: int, integer: bool) -> float | int:
    kind = "a whole number" if integer else "a number of seconds"
    valid = isinstance(value, int if integer else int | float) and not isinstance(value, bool)
    if not valid or not low <= value <= high:
        raise InvalidInput(
            f"{key} must be {kind} from {low} to {high}, got {value!r}",
            {key: f"{kind} from {low} to {high}"},
        )
    return value


def check_search(time_budget: Any, trials: Any) -> dict[str, Any]:
    """Return the search options given (time_budget, trials), or say what is wrong."""
    options = {}
    if time_budget is not None:
        options["time_budget"] = _number(
            "time_budget", time_budget, MIN_TIME_BUDGET, MAX_TIME_BUDGET, integer=False
        )
    if trials is not None:
        options["trials"] = _number("trials", trials, MIN_TRIALS, MAX_TRIALS, integer=True)
    return options
