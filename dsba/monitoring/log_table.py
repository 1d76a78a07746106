"""Turn buffered predictions into one Arrow table of the prediction log (see layout.py).

Feature columns hold each value as the model read it, in a type fixed by the feature's kind,
so every file of a version has the same schema and compaction can concatenate them:
numeric and boolean (0/1) as float64, categorical as the text of the value (an unseen
category keeps its text, though the model read it as missing), datetime as a UTC timestamp.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dsba.data.schema import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    FALSE_TEXT,
    NUMERIC,
    TRUE_TEXT,
    category_text,
)
from dsba.monitoring import layout

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
    fields.append(pa.field(layout.PREDICTION, pa.string()))
    fields += [pa.field(layout.PROBA_PREFIX + str(c), pa.float64()) for c in schema["classes"]]
    return pa.schema(fields)


def _values(batch: Pending, name: str) -> list[Any]:
    inputs = batch.inputs
    if isinstance(inputs, pd.DataFrame):
        return inputs[name].tolist() if name in inputs.columns else [None] * len(inputs)
    return [record.get(name) for record in inputs]


def _boolean(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    return 1.0 if text in TRUE_TEXT else 0.0 if text in FALSE_TEXT else None


def _column(feature: dict[str, Any], values: list[Any]) -> pa.Array:
    """A feature's values as the model read them, in the log's type for its kind."""
    kind, series = feature["kind"], pd.Series(values)
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


def build_table(batches: list[Pending]) -> pa.Table:
    """One table of every row of batches (all of one model version)."""
    first = batches[0]
    schema = arrow_schema(first.schema)
    sizes = [len(b.ids) for b in batches]
    micros = np.repeat([int(b.at * 1_000_000) for b in batches], sizes)
    columns: list[pa.Array] = [
        pa.array([i for b in batches for i in b.ids], pa.string()),
        pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        pa.array([first.name] * len(micros), pa.string()),
        pa.array([first.version] * len(micros), pa.int32()),
        pa.array([b.request_id for b in batches for _ in b.ids], pa.string()),
        pa.array([b.source for b in batches for _ in b.ids], pa.string()),
    ]
    for feature in first.schema["features"]:
        values = [v for b in batches for v in _values(b, feature["name"])]
        columns.append(_column(feature, values))
    columns.append(pa.array([str(label) for b in batches for label in b.labels], pa.string()))
    proba = np.vstack([b.probabilities for b in batches]).astype(np.float64)
    columns += [pa.array(proba[:, i]) for i in range(proba.shape[1])]
    return pa.Table.from_arrays(columns, schema=schema)
