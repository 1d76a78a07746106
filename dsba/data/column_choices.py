"""The columns a user leaves out of training, and the kinds they give columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from dsba.data.schema import BOOLEAN, CATEGORICAL, DATETIME, IGNORE, NUMERIC, read_as
from dsba.errors import InvalidInput

KIND_CHOICES = (NUMERIC, CATEGORICAL, DATETIME, BOOLEAN, IGNORE)


def _names(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidInput(f"{what} must be a list of column names", {what: value})
    if not all(isinstance(name, str) for name in value):
        raise InvalidInput(f"{what} must be a list of column names (text)", {what: value})
    return list(dict.fromkeys(value))


def check_choices(
    columns: Iterable[str], target: str, exclude: Any = None, kinds: Any = None
) -> tuple[list[str], dict[str, str]]:
    """Check exclude (column names) and kinds ({column: kind}) against a table's columns."""
    known = [str(column) for column in columns]
    excluded = _names(exclude, "exclude")
    if kinds is None:
        kinds = {}
    if not isinstance(kinds, dict):
        raise InvalidInput("kinds must be an object of {column: kind}", {"kinds": kinds})
    listed = ", ".join(known)
    for name in excluded:
        if name not in known:
            raise InvalidInput(
                f"exclude: column {name!r} not found; columns are: {listed}", {"exclude": name}
            )
        if name == target:
            raise InvalidInput(
                f"exclude: {name!r} is the target column; it cannot be left out",
                {"exclude": name},
            )
    for name, kind in kinds.items():
        if name not in known:
            raise InvalidInput(
                f"kinds: column {name!r} not found; columns are: {listed}", {"kinds": name}
            )
        if name == target:
            raise InvalidInput(
                f"kinds: {name!r} is the target column; only features take a kind",
                {"kinds": name},
            )
        if kind not in KIND_CHOICES:
            raise InvalidInput(
                f"kinds: {kind!r} for column {name!r} is not a kind; "
                f"use one of {', '.join(KIND_CHOICES)}",
                {"kinds": name},
            )
    return excluded, {str(name): str(kind) for name, kind in kinds.items()}


def check_kind_values(frame: pd.DataFrame, kinds: dict[str, str]) -> None:
    """Refuse a column whose values cannot be read as the kind chosen for it, naming it."""
    for name, kind in kinds.items():
        if kind in (IGNORE, CATEGORICAL) or name not in frame.columns:
            continue
        try:
            read_as(name, frame[name], kind)
        except InvalidInput as error:
            details = {**error.errors, "kinds": name}
            raise InvalidInput(f"kinds: {error.message}", details) from error
