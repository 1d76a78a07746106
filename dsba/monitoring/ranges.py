"""Warnings for numeric values outside the range a version was trained on.

The ranges come from the reference profile the loaded model carries, derived once per loaded
model and kept with it (a weak key: evicted from the model cache, the ranges go too), so a
prediction costs no read of the store; checking a row is a comparison per numeric feature.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

from dsba.monitoring.reference import REFERENCE_FILE
from dsba.registry.model_registry import LoadedModel

Ranges = dict[str, tuple[float, float]]
_RANGES: weakref.WeakKeyDictionary[LoadedModel, Ranges] = weakref.WeakKeyDictionary()
SHOWN_FEATURES = 5
FEW_ROWS = 8


def training_ranges(model: LoadedModel) -> Ranges:
    """(min, max) of each numeric feature in the training part ({} without a reference)."""
    ranges = _RANGES.get(model)
    if ranges is None:
        reference = model.artifacts.get(REFERENCE_FILE) or {}
        ranges = {
            f["name"]: (float(f["min"]), float(f["max"]))
            for f in reference.get("features", [])
            if f.get("kind") == "numeric" and f.get("min") is not None
        }
        ranges = _RANGES.setdefault(model, ranges)
    return ranges


def _values(inputs: Any, name: str) -> np.ndarray | None:
    """A column of records or a frame as float64 (NaN where it is not a number)."""
    if isinstance(inputs, pd.DataFrame):
        if name not in inputs.columns:
            return None
        return pd.to_numeric(inputs[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    column = [record.get(name) for record in inputs]
    try:
        return np.array(column, dtype=np.float64)  # None becomes NaN, in one C loop
    except (TypeError, ValueError):  # text that is not a number: the slow way
        return pd.to_numeric(pd.Series(column, dtype=object), errors="coerce").to_numpy(
            np.float64, na_value=np.nan
        )


def _few_outside(ranges: Ranges, records: list) -> bool:
    """Whether any number of a few records lies outside its range (no array for one row)."""
    for record in records:
        for name, (low, high) in ranges.items():
            value = record.get(name)
            kind = type(value)
            if kind is float or kind is int:
                if not low <= value <= high and value == value:  # NaN is missing, not outside
                    return True
            elif value is not None and kind is not bool:
                return True  # text that may be a number: let the full check decide
    return False


def range_warnings(ranges: Ranges, inputs: Any) -> list[str]:
    """One sentence naming the numeric features given values outside their training range."""
    if not ranges:
        return []
    # A request of a few rows, all in range (the usual single-row call), costs a few
    # comparisons; numpy arrays per feature cost ~40 us for one row.
    if isinstance(inputs, list) and len(inputs) <= FEW_ROWS and not _few_outside(ranges, inputs):
        return []
    found = []
    for name, (low, high) in ranges.items():
        values = _values(inputs, name)
        if values is None:
            continue
        outside = (values < low) | (values > high)  # NaN compares false: missing is not outside
        if outside.any():
            example = values[np.argmax(outside)]
            found.append((name, int(outside.sum()), example, low, high))
    if not found:
        return []
    parts = [
        f"{name} in {count} row{'s' if count > 1 else ''} (e.g. {example:g}; trained on "
        f"{low:g} to {high:g})"
        for name, count, example, low, high in found[:SHOWN_FEATURES]
    ]
    more = (
        f" and {len(found) - SHOWN_FEATURES} more features" if len(found) > SHOWN_FEATURES else ""
    )
    return [
        "values outside the training range, where the model extrapolates: "
        + "; ".join(parts)
        + more
    ]
