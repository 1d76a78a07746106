"""Join the window's logged predictions to their feedback labels (latest received wins)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dsba.errors import InvalidInput
from dsba.monitoring import layout, log_reader
from dsba.monitoring.log_reader import DAY_US, ident, numeric_expr, source
from dsba.monitoring.window import window
from dsba.registry.model_registry import LoadedModel

EXPORT_FORMATS = ("json", "csv", "parquet")
MAX_EXPORT_ROWS = 1_000_000
# Files of a day may be compacted while they are read: list them again and retry.
PROBA_FLOOR = 1e-15


def latest_labels(files: Sequence[Path]) -> str:
    """A subquery of (id, label): the latest label received for each id ($feedback bound)."""
    if not files:
        return "(SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS label LIMIT 0)"
    return (
        f"(SELECT {ident(layout.ID)} AS id, "  # noqa: S608 (identifiers escaped, values bound)
        f"arg_max(CAST({ident(layout.LABEL)} AS VARCHAR), {ident(layout.RECEIVED_AT)}) AS label "
        "FROM read_parquet($feedback, union_by_name = true) GROUP BY 1)"
    )


def live_counts(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    feedback: Sequence[Path],
    types: dict[str, str],
    classes: list[str],
) -> list[tuple[int, str, str, int, float]]:
    """(day, predicted, label, rows, summed log loss) over the labelled rows of the window."""
    if not feedback:
        return []
    cases = " ".join(
        f"WHEN $class{i} THEN {numeric_expr(layout.PROBA_PREFIX + c, types)}"
        for i, c in enumerate(classes)
    )
    query = f"""
        SELECT epoch_us(s.{ident(layout.TS)}) // {DAY_US} * {DAY_US} AS day,
               CAST(s.{ident(layout.PREDICTION)} AS VARCHAR) AS predicted, f.label,
               count(*), sum(-ln(greatest(CASE f.label {cases} END, {PROBA_FLOOR})))
        FROM {source()} s JOIN {latest_labels(feedback)} f ON s.{ident(layout.ID)} = f.id
        WHERE list_contains($classes, f.label)
        GROUP BY ALL ORDER BY 1
    """  # noqa: S608 (identifiers escaped, values bound)
    bound = {**params, "feedback": [str(p) for p in feedback], "classes": list(classes)}
    bound.update({f"class{i}": c for i, c in enumerate(classes)})
    rows = con.execute(query, bound).fetchall()
    return [(int(d), str(p), str(lab), int(n), float(loss or 0.0)) for d, p, lab, n, loss in rows]


def export(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    feedback: Sequence[Path],
    limit: int,
    fmt: str,
    numeric_labels: bool = False,
) -> bytes | list[dict[str, Any]]:
    """The window's logged rows, oldest first, with their labels: records, CSV or Parquet.

    numeric_labels: a regression model's labels come out as numbers, as its predictions do.
    """
    label = "TRY_CAST(f.label AS DOUBLE)" if numeric_labels else "f.label"
    query = f"""
        SELECT s.*, {label} AS {ident(layout.LABEL)}
        FROM {source()} s LEFT JOIN {latest_labels(feedback)} f ON s.{ident(layout.ID)} = f.id
        ORDER BY s.{ident(layout.TS)}, s.{ident(layout.ID)} LIMIT $limit
    """  # noqa: S608 (identifiers escaped, values bound)
    bound = {**params, "limit": int(limit)}
    if feedback:
        bound["feedback"] = [str(p) for p in feedback]
    table = con.execute(query, bound).to_arrow_table()
    return encode(table, fmt)


def empty_table() -> pa.Table:
    """The export of a window without rows."""
    names = [layout.ID, layout.TS, layout.MODEL, layout.VERSION, layout.PREDICTION, layout.LABEL]
    return pa.table({name: pa.array([], pa.string()) for name in names})


def encode(table: pa.Table, fmt: str) -> bytes | list[dict[str, Any]]:
    """An Arrow table as JSON records (times in ISO 8601), CSV bytes or Parquet bytes."""
    if fmt == "parquet":
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()
    if fmt == "csv":
        sink = io.BytesIO()
        pacsv.write_csv(table, sink)
        return sink.getvalue()
    return [{key: _plain(value) for key, value in row.items()} for row in table.to_pylist()]


def _plain(value: Any) -> Any:
    """A JSON-ready cell: times as ISO 8601 text, NaN and infinities as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def export_predictions(
    root: Path, model: LoadedModel, *, since: Any, until: Any, limit: int, fmt: str
) -> bytes | list[dict[str, Any]]:
    """Logged rows of [since, until), oldest first, labels joined: records, CSV or Parquet."""
    start, end = window(since, until)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_EXPORT_ROWS:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_EXPORT_ROWS}")

    def read() -> bytes | list[dict[str, Any]]:
        files = layout.log_files(root, model.name, model.version, start, end)
        if not files:
            return encode(empty_table(), fmt)
        con = log_reader.connect()
        try:
            params = log_reader.window_params(files, start, end)
            feedback = layout.feedback_files(root, model.name)
            regression = layout.is_regression(model.schema)
            return export(con, params, feedback, limit, fmt, numeric_labels=regression)
        finally:
            con.close()

    return layout.read_live(read)
