"""A profile of a table's columns: kinds, missing and distinct counts, a preview."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dsba.data.schema import (
    CATEGORICAL,
    ID_NAME,
    MIN_ROWS_FOR_ID_CHECK,
    NUMERIC,
    column_kind,
    to_python,
)
from dsba.errors import InvalidInput

PREVIEW_ROWS = 10
TOP_VALUES = 5
# A categorical feature with more categories than this is flagged: each rare category
# teaches the model little, and the unseen ones of new rows are scored as missing.
HIGH_CARDINALITY = 50


def json_value(value: Any) -> Any:
    """A cell as JSON: NaN and NaT become None, numpy scalars plain Python, others strings."""
    value = to_python(value)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def profile_column(series: pd.Series) -> dict[str, Any]:
    """Kind, dtype, missing, distinct and a few statistics of one column."""
    try:
        kind = column_kind(series)
    except InvalidInput:
        kind = "nested"
    values = series.dropna()
    hashable = values if kind != "nested" else values.astype(str)
    info: dict[str, Any] = {
        "name": str(series.name),
        "kind": kind,
        "dtype": str(series.dtype),
        "missing": int(series.isna().sum()),
        "distinct": int(hashable.nunique()),
    }
    if kind == NUMERIC and not values.empty:
        info.update(
            min=json_value(values.min()),
            max=json_value(values.max()),
            mean=round(float(values.astype(float).mean()), 6),
        )
    else:
        top = hashable.astype(str).value_counts().head(TOP_VALUES)
        info["top"] = [{"value": str(v), "count": int(c)} for v, c in top.items()]
    return info


def profile_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """Profile every column and take a preview of the first rows."""
    preview = [
        {str(k): json_value(v) for k, v in row.items()}
        for row in frame.head(PREVIEW_ROWS).to_dict(orient="records")
    ]
    return {
        "rows": int(len(frame)),
        "columns": [profile_column(frame[c]) for c in frame.columns],
        "preview": preview,
    }


def unusable_reason(column: dict[str, Any], rows: int, max_categories: int) -> str | None:
    """Why training will drop a profiled column (infer_schema's rules), or None if usable."""
    distinct, kind = column.get("distinct", 0), column.get("kind")
    if column.get("missing", 0) >= rows:
        return "empty: every value is missing"
    if distinct <= 1:
        return "constant: a single value"
    unique_per_row = distinct == rows and rows >= MIN_ROWS_FOR_ID_CHECK
    if kind == CATEGORICAL and unique_per_row:
        return "ID-like: a different value on every row"
    if kind == NUMERIC and unique_per_row and str(column.get("dtype", "")).startswith("int"):
        consecutive = column.get("max", 0) - column.get("min", 0) == rows - 1
        if consecutive or ID_NAME.search(column["name"]):
            return "ID-like: a unique integer on every row"
    if kind == CATEGORICAL and distinct > max_categories:
        return f"too many categories: {distinct} distinct values (limit {max_categories})"
    return None


def column_notes(profile: dict[str, Any], max_categories: int) -> dict[str, dict[str, str]]:
    """Per column name: why training drops it ("unusable") or what to watch ("warning")."""
    notes: dict[str, dict[str, str]] = {}
    for column in profile["columns"]:
        reason = unusable_reason(column, profile["rows"], max_categories)
        if reason:
            notes[column["name"]] = {"unusable": reason}
        elif column.get("kind") == CATEGORICAL and column.get("distinct", 0) > HIGH_CARDINALITY:
            notes[column["name"]] = {
                "warning": f"high cardinality: {column['distinct']:,} categories, each seen "
                "rarely; consider leaving it out"
            }
    return notes
