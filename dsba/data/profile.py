"""A profile of a table's columns: kinds, missing and distinct counts, a preview."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dsba.data.schema import NUMERIC, column_kind, to_python
from dsba.errors import InvalidInput

PREVIEW_ROWS = 10
TOP_VALUES = 5


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
