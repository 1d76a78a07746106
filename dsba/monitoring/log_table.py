"""Turn buffered predictions into one Arrow table of the prediction log (see layout.py).

Feature columns hold each value as the model read it, in a type fixed by the feature's kind,
so every file of a version has the same schema and compaction can concatenate them:
numeric and boolean (0/1) as float64, categorical as the text of the value (an unseen
category keeps its text, though the model read it as missing), datetime as a UTC timestamp.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dsba.data.schema import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    TRUTH_WORDS,
    category_text,
)
from dsba.monitoring import layout

_SURROGATE = re.compile("[\ud800-\udfff]")
_KIND_TYPES = {
    NUMERIC: pa.float64(),
    BOOLEAN: pa.float64(),
    CATEGORICAL: pa.string(),
    DATETIME: pa.timestamp("us", tz="UTC"),
}


@dataclass(slots=True)
class Pending:
    """One scored request waiting for the writer: references only, nothing converted yet."""

    name: str
    version: int
    schema: dict[str, Any]
    source: str
    request_id: str | None
    inputs: Any  # a list of {column: value} records or a DataFrame
    labels: Sequence[Any]
    probabilities: np.ndarray
    at: float
    ids: list[str]
    intervals: np.ndarray | None = None  # regression: (rows, 2) lower and upper bounds


def arrow_schema(schema: dict[str, Any]) -> pa.Schema:
    """The columns of a version's log files, typed."""
    fields = [
        pa.field(layout.ID, pa.string()),
        pa.field(layout.TS, pa.timestamp("us", tz="UTC")),
        pa.field(layout.MODEL, pa.string()),
        pa.field(layout.VERSION, pa.int32()),
        pa.field(layout.REQUEST_ID, pa.string()),
        pa.field(layout.SOURCE, pa.string()),
    ]
    fields += [
        pa.field(layout.FEATURE_PREFIX + f["name"], _KIND_TYPES[f["kind"]])
        for f in schema["features"]
    ]
    if layout.is_regression(schema):
        names = (layout.PREDICTION, layout.PREDICTION_LOWER, layout.PREDICTION_UPPER)
        return pa.schema([*fields, *(pa.field(name, pa.float64()) for name in names)])
    fields.append(pa.field(layout.PREDICTION, pa.string()))
    fields += [pa.field(layout.PROBA_PREFIX + str(c), pa.float64()) for c in schema["classes"]]
    return pa.schema(fields)


def _feature_values(batches: list[Pending], names: list[str]) -> dict[str, list[Any]]:
    """Each feature's raw values over every row of batches, in row order."""
    values: dict[str, list[Any]] = {name: [] for name in names}
    pairs = list(values.items())
    for batch in batches:
        inputs = batch.inputs
        if isinstance(inputs, pd.DataFrame):
            for name, column in pairs:
                given = name in inputs.columns
                column.extend(inputs[name].tolist() if given else [None] * len(inputs))
            continue
        for record in inputs:  # the common case: a request of a few JSON records
            get = record.get
            for name, column in pairs:
                column.append(get(name))
    return values


def _boolean(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    return TRUTH_WORDS.get(text)


def _column(feature: dict[str, Any], values: list[Any]) -> pa.Array:
    """A feature's values as the model read them, in the log's type for its kind."""
    try:
        return _typed(feature["kind"], feature, values)
    except UnicodeEncodeError:
        # JSON may carry a lone surrogate ("\ud800"), which UTF-8 cannot hold: one such value
        # must not cost the other rows of the file. It is logged as U+FFFD.
        return _typed(feature["kind"], feature, [_valid_text(v) for v in values])


def _typed(kind: str, feature: dict[str, Any], values: list[Any]) -> pa.Array:
    series = pd.Series(values, dtype=object)
    if kind == NUMERIC:
        converted = pd.to_numeric(series, errors="coerce").astype(np.float64)
    elif kind == BOOLEAN:
        converted = pd.Series([_boolean(v) for v in values], dtype=np.float64)
    elif kind == CATEGORICAL:
        converted = category_text(series, feature.get("categories") or []).astype(object)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
    return pa.Array.from_pandas(converted, type=_KIND_TYPES[kind])


def _valid_text(value: Any) -> Any:
    """A text with what UTF-8 cannot encode replaced by U+FFFD; other values unchanged."""
    if not isinstance(value, str):
        return value
    return _SURROGATE.sub("\ufffd", value)


def build_table(batches: list[Pending]) -> pa.Table:
    """One table of every row of batches (all of one model version)."""
    first = batches[0]
    sizes = [len(b.ids) for b in batches]
    rows = sum(sizes)
    micros = np.repeat(np.array([int(b.at * 1_000_000) for b in batches], np.int64), sizes)
    columns: list[pa.Array] = [
        pa.array(list(chain.from_iterable(b.ids for b in batches)), pa.string()),
        pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        pa.array([first.name] * rows, pa.string()),
        pa.array(np.full(rows, first.version, np.int32)),
        pa.array(_repeat([b.request_id for b in batches], sizes), pa.string()),
        pa.array(_repeat([b.source for b in batches], sizes), pa.string()),
    ]
    features = first.schema["features"]
    raw = _feature_values(batches, [f["name"] for f in features])
    columns += [_column(feature, raw[feature["name"]]) for feature in features]
    if layout.is_regression(first.schema):
        columns += _regression_columns(batches)
        return pa.Table.from_arrays(columns, schema=arrow_schema(first.schema))
    labels = chain.from_iterable(b.labels for b in batches)
    columns.append(pa.array([str(label) for label in labels], pa.string()))
    proba = np.vstack([b.probabilities for b in batches]).astype(np.float64)
    columns += [pa.array(proba[:, i]) for i in range(proba.shape[1])]
    return pa.Table.from_arrays(columns, schema=arrow_schema(first.schema))


def _regression_columns(batches: list[Pending]) -> list[pa.Array]:
    """The predicted values and their interval bounds (null bounds when none were made)."""
    values = np.concatenate([np.asarray(b.labels, dtype=np.float64) for b in batches])
    bounds = np.vstack(
        [np.full((len(b.ids), 2), np.nan) if b.intervals is None else b.intervals for b in batches]
    ).astype(np.float64)
    return [pa.array(values, pa.float64(), from_pandas=True)] + [
        pa.array(bounds[:, i], pa.float64(), from_pandas=True) for i in range(2)
    ]


def _repeat(values: list[Any], sizes: list[int]) -> list[Any]:
    """Each value repeated its batch's number of rows."""
    if all(size == 1 for size in sizes):
        return values
    return [value for value, size in zip(values, sizes, strict=True) for _ in range(size)]
