"""The task a target column asks for (classification or regression), and its regression checks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dsba.errors import InvalidInput

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)
# An integer target with more distinct values than this is a quantity, not classes; the
# same bound refused such targets before regression existed, so every target a classifier
# took before is still a classification target (a 1-10 rating stays one unless overridden).
MAX_CLASSES = 50
# Fewer labelled rows than this leave a test part and a calibration slice of a handful of
# rows: the metrics and the interval's coverage would be noise.
MIN_REGRESSION_ROWS = 20
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key)$|^id[_\s-]", re.IGNORECASE)


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def infer_task(series: pd.Series) -> str:
    """Regression for numbers with fractions or many distinct values; else classification."""
    values = series.dropna()
    if not _is_number(values) or values.empty:
        return CLASSIFICATION
    finite = values[np.isfinite(values.to_numpy(dtype=np.float64))]
    if not np.array_equal(finite, np.round(finite)):
        return REGRESSION
    # An infinite value makes the column float: it can only have meant a quantity.
    if len(finite) < len(values) or values.nunique() > MAX_CLASSES:
        return REGRESSION
    return CLASSIFICATION


def resolve_task(series: pd.Series, task: str | None) -> str:
    """The task asked for (checked) or, when none is, the one the target suggests."""
    if task is None:
        return infer_task(series)
    if task not in TASKS:
        raise InvalidInput(
            f"task must be one of {', '.join(TASKS)}, got {task!r}", {"task": str(task)}
        )
    return task


def check_regression_target(series: pd.Series) -> None:
    """Refuse a target a regressor cannot learn: text, inf, constant, ID-like or too few rows."""
    name = series.name
    values = series.dropna()
    if values.empty:
        raise InvalidInput(f"target column {name!r} has no values", {"target": str(name)})
    if not _is_number(values):
        raise InvalidInput(
            f"target column {name!r} holds text or true/false values; regression needs numbers "
            "(train a classifier on it instead)",
            {"target": str(name)},
        )
    numbers = values.to_numpy(dtype=np.float64)
    if not np.isfinite(numbers).all():
        position = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise InvalidInput(
            f"target column {name!r} has an infinite value ({float(numbers[position])!r} on "
            f"row {values.index[position]}); regression needs finite numbers",
            {"target": str(name)},
        )
    if len(values) < MIN_REGRESSION_ROWS:
        raise InvalidInput(
            f"target column {name!r} has {len(values)} labelled rows; regression needs at "
            f"least {MIN_REGRESSION_ROWS}",
            {"target": str(name)},
        )
    if numbers.min() == numbers.max():
        raise InvalidInput(
            f"target column {name!r} is constant ({float(numbers[0])!r}); "
            "there is nothing to predict",
            {"target": str(name)},
        )
    if _id_like(series.name, values):
        raise InvalidInput(
            f"target column {name!r} looks ID-like (a unique integer on every row); "
            "pick the quantity to predict",
            {"target": str(name)},
        )


def _id_like(name: object, values: pd.Series) -> bool:
    """A unique whole number per row, consecutive or in a column named like an id."""
    numbers = values.to_numpy(dtype=np.float64)
    if not np.array_equal(numbers, np.round(numbers)) or values.nunique() != len(values):
        return False
    return bool(_ID_NAME.search(str(name))) or bool((np.diff(np.sort(numbers)) == 1).all())
