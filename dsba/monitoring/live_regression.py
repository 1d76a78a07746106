"""Live error of a regression model: its logged values joined to the numbers sent as feedback.

One DuckDB query over the window's labelled rows gives the sums RMSE, MAE, R², bias and the
interval coverage are made of, per UTC day and over the whole window (grouping sets), so
R² over the window uses the window's own target variance, not an average of days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from dsba.monitoring import layout
from dsba.monitoring.labelled import latest_labels
from dsba.monitoring.log_reader import DAY_US, ident, numeric_expr, source
from dsba.monitoring.performance import iso_day


def _query(types: dict[str, str], feedback: Sequence[Path]) -> str:
    value = numeric_expr(layout.PREDICTION, types)
    low = numeric_expr(layout.PREDICTION_LOWER, types)
    high = numeric_expr(layout.PREDICTION_UPPER, types)
    return f"""
        WITH labelled AS (
            SELECT epoch_us(s.{ident(layout.TS)}) // {DAY_US} * {DAY_US} AS day,
                   TRY_CAST(f.label AS DOUBLE) AS y, {value} AS p, {low} AS lo, {high} AS hi
            FROM {source()} s JOIN {latest_labels(feedback)} f ON s.{ident(layout.ID)} = f.id)
        SELECT grouping(day) AS whole, day, count(*), sum((y - p) * (y - p)), sum(abs(y - p)),
               var_pop(y), avg(p - y), count(hi - lo),
               count(CASE WHEN y BETWEEN lo AND hi THEN 1 END), avg(hi - lo)
        FROM labelled WHERE isfinite(y) AND isfinite(p)
        GROUP BY GROUPING SETS ((day), ()) ORDER BY whole, day
    """  # noqa: S608 (identifiers escaped, values bound)


def _metrics(
    n: int,
    sse: float,
    sae: float,
    variance: float | None,
    bias: float,
    bounded: int,
    covered: int,
    width: float | None,
) -> dict[str, Any]:
    """The figures of one group's sums."""
    spread = (variance or 0.0) * n
    return {
        "rows": n,
        "rmse": math.sqrt(sse / n),
        "mae": sae / n,
        # R² is undefined where every label is the same (no variance to explain).
        "r2": 1 - sse / spread if n > 1 and spread > 0 else None,
        "bias": bias,
        "interval_coverage": covered / bounded if bounded else None,
        "interval_mean_width": width,
    }


def live_metrics(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    feedback: Sequence[Path],
    types: dict[str, str],
) -> dict[str, Any] | None:
    """RMSE, MAE, R², bias (predicted - true) and coverage over the window and per day.

    None when no logged row of the window has a numeric label.
    """
    if not feedback:
        return None
    bound = {**params, "feedback": [str(p) for p in feedback]}
    rows = con.execute(_query(types, feedback), bound).fetchall()
    whole = [row for row in rows if row[0] == 1 and row[2]]
    if not whole:
        return None
    per_day = [
        {"period": iso_day(int(row[1])), **_metrics(*row[2:])} for row in rows if row[0] == 0
    ]
    return {**_metrics(*whole[0][2:]), "per_day": per_day}
