"""Write prediction-log and feedback files in the store layout of dsba/monitoring/layout.py.

Tests of the read side use these to lay down real predictions of real models exactly as the
server's log writer does: one Parquet file per writer and UTC day, columns as documented.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dsba.model.prediction import predict_frame
from dsba.monitoring import layout
from dsba.monitoring.reference import numeric_values
from dsba.registry.model_registry import LoadedModel

TS_TYPE = pa.timestamp("us", tz="UTC")


def feature_column(kind: str, series: pd.Series, *, typed: bool = False) -> pa.Array:
    """A feature as the log stores it: float64, text, or (datetimes) UTC timestamps.

    typed: booleans as Arrow booleans and missing numbers as NaN, the writer's other options.
    """
    if kind == "boolean" and typed:
        values = numeric_values(kind, series)
        return pa.array([None if np.isnan(v) else bool(v) for v in values], pa.bool_())
    if kind == "categorical":
        text = [None if pd.isna(v) else str(v) for v in series.tolist()]
        return pa.array(text, pa.string())
    if kind == "datetime":
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
        return pa.array(parsed, TS_TYPE)
    return pa.array(numeric_values(kind, series), pa.float64(), from_pandas=not typed)


def log_rows(
    root: Path,
    model: LoadedModel,
    frame: pd.DataFrame,
    start: datetime,
    *,
    step: timedelta = timedelta(seconds=1),
    source: str = "api",
    writer: str | None = None,
    typed: bool = False,
) -> pd.DataFrame:
    """Score frame with model and log each row at start + i * step; return ids and labels."""
    predictions = predict_frame(model, frame)
    n = len(frame)
    ids = [uuid.uuid4().hex for _ in range(n)]
    ts = pd.Series([start + i * step for i in range(n)])
    columns: dict[str, pa.Array] = {
        layout.ID: pa.array(ids, pa.string()),
        layout.TS: pa.array(ts, TS_TYPE),
        layout.MODEL: pa.array([model.name] * n, pa.string()),
        layout.VERSION: pa.array([model.version] * n, pa.int64()),
        layout.REQUEST_ID: pa.array([uuid.uuid4().hex] * n, pa.string()),
        layout.SOURCE: pa.array([source] * n, pa.string()),
    }
    for feature in model.schema["features"]:
        series = frame[feature["name"]].reset_index(drop=True)
        columns[layout.FEATURE_PREFIX + feature["name"]] = feature_column(
            feature["kind"], series, typed=typed
        )
    labels = [str(label) for label in predictions.labels]
    columns[layout.PREDICTION] = pa.array(labels, pa.string())
    for i, label in enumerate(predictions.classes):
        proba = predictions.probabilities[:, i].astype(np.float64)
        columns[layout.PROBA_PREFIX + str(label)] = pa.array(proba, pa.float64())
    table = pa.table(columns)
    days = ts.dt.date
    for day in sorted(set(days)):
        folder = layout.log_dir(root, model.name, model.version) / layout.day_name(day)
        folder.mkdir(parents=True, exist_ok=True)
        name = writer or f"test-{uuid.uuid4().hex[:8]}-0"
        mask = pa.array((days == day).to_numpy())
        pq.write_table(table.filter(mask), folder / f"{name}{layout.SUFFIX}")
    return pd.DataFrame({"id": ids, "prediction": labels})


def write_feedback(
    root: Path, name: str, ids: list[str], labels: list[str], received_at: datetime
) -> Path:
    """One feedback file of (id, label, received_at) rows for model name."""
    folder = layout.feedback_dir(root, name) / layout.day_name(received_at.date())
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            layout.ID: pa.array(ids, pa.string()),
            layout.LABEL: pa.array([str(v) for v in labels], pa.string()),
            layout.RECEIVED_AT: pa.array([received_at] * len(ids), TS_TYPE),
        }
    )
    path = folder / f"test-{uuid.uuid4().hex[:8]}-0{layout.SUFFIX}"
    pq.write_table(table, path)
    return path
