"""Aggregate the prediction log of a window with DuckDB: only counts come back to Python.

Every query reads the window's Parquet files out of core (bounded memory, few threads), and
every feature name and category reaches SQL as an escaped identifier or a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dsba.monitoring import layout

MEMORY_LIMIT = "512MB"
THREADS = 2
HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000
PROBA_BOUNDS = [round(i / 10, 1) for i in range(1, 11)]


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a memory cap: a report never takes the server's memory."""
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": THREADS})
    con.execute("SET preserve_insertion_order = false")
    return con


def ident(name: str) -> str:
    """A column name as a SQL identifier: any text, quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def source() -> str:
    """The window's rows: the files (a bound list $files) filtered to [$since, $until)."""
    return (
        "(SELECT * FROM read_parquet($files, union_by_name = true) "  # noqa: S608 (identifiers escaped, values bound)
        f"WHERE {ident(layout.TS)} >= $since AND {ident(layout.TS)} < $until)"
    )


def window_params(files: Sequence[Path], since: datetime, until: datetime) -> dict[str, Any]:
    """The bound parameters of source()."""
    return {"files": [str(p) for p in files], "since": since, "until": until}


def column_types(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> dict[str, str]:
    """Column name -> DuckDB type of the log files."""
    rows = con.execute(
        "DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true)",
        {"files": [str(p) for p in files]},
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def numeric_expr(column: str, types: dict[str, str]) -> str:
    """A log column as DOUBLE: booleans 0/1, timestamps epoch seconds, text parsed if it can."""
    kind = types.get(column)
    if kind is None:
        return "CAST(NULL AS DOUBLE)"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"CAST(epoch_us({ident(column)}) AS DOUBLE) / 1e6"
    if kind == "VARCHAR":
        return f"TRY_CAST({ident(column)} AS DOUBLE)"
    return f"CAST({ident(column)} AS DOUBLE)"


def top_bin(types: dict[str, str], classes: list[str]) -> str:
    """The reliability bin (0..9) of a row's top probability."""
    probas = [numeric_expr(layout.PROBA_PREFIX + c, types) for c in classes]
    top = f"greatest({', '.join(probas)})" if len(probas) > 1 else probas[0]
    return f"least(greatest(TRY_CAST(floor({top} * 10) AS INTEGER), 0), 9)"


def summary(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    types: dict[str, str],
    numeric: dict[str, list[float]],
    classes: list[str],
    prediction_bounds: list[float] | None = None,
) -> dict[str, Any]:
    """One scan: rows, predictions, feature bins, probabilities, rows per hour, top bins per day.

    Each numeric feature is one histogram over its bounds; the first bound is -inf, whose
    bucket DuckDB also fills with NaN: missing values are NULLs plus that bucket. A
    regression model (prediction_bounds given) gets its predicted values binned the same way
    and the mean width of their intervals, instead of classes and probabilities.
    """
    ts = f"epoch_us({ident(layout.TS)})"
    parts = ["count(*)", f"histogram({ts} // {HOUR_US})"]
    bound: dict[str, Any] = dict(params)
    if prediction_bounds is None:
        parts += [
            f"histogram({ident(layout.PREDICTION)})",
            f"histogram({ts} // {DAY_US} * 10 + {top_bin(types, classes)})",
        ]
        bound["proba_bounds"] = PROBA_BOUNDS
    else:
        width = " - ".join(
            numeric_expr(c, types) for c in (layout.PREDICTION_UPPER, layout.PREDICTION_LOWER)
        )
        parts += [
            f"histogram({numeric_expr(layout.PREDICTION, types)}, $prediction_bounds::DOUBLE[])",
            f"avg({width})",
        ]
        bound["prediction_bounds"] = prediction_bounds
    # Bounds go in as bound parameters: a decimal literal may parse to a neighbouring double.
    for i, (name, bounds) in enumerate(numeric.items()):
        x = numeric_expr(layout.FEATURE_PREFIX + name, types)
        bound[f"b{i}"] = bounds
        parts.append(f"histogram({x}, $b{i}::DOUBLE[])")
    for label in classes:
        p = numeric_expr(layout.PROBA_PREFIX + label, types)
        parts.append(f"histogram({p}, $proba_bounds::DOUBLE[])")
    query = f"SELECT {', '.join(parts)} FROM {source()}"  # noqa: S608 (identifiers escaped, values bound)
    row = con.execute(query, bound).fetchone()
    assert row is not None
    rows = int(row[0])
    result: dict[str, Any] = {"rows": rows}
    result["hours"] = sorted((int(h) * HOUR_US, int(n)) for h, n in (row[1] or {}).items())
    if prediction_bounds is None:
        result["predictions"] = dict(row[2] or {})
        result["top_bins"] = sorted(
            (int(k) // 10 * DAY_US, int(k) % 10, int(n)) for k, n in (row[3] or {}).items()
        )
    else:
        counts = _bin_list(row[2], prediction_bounds)
        result["values"] = {"missing": rows - sum(counts) + counts[0], "counts": counts[1:]}
        result["interval_width"] = None if row[3] is None else float(row[3])
    features, at = {}, 4
    for name, bounds in numeric.items():
        counts = _bin_list(row[at], bounds)
        at += 1
        features[name] = {"missing": rows - sum(counts) + counts[0], "counts": counts[1:]}
    result["numeric"] = features
    result["proba"] = {
        label: _bin_list(row[at + i], PROBA_BOUNDS)[:-1] for i, label in enumerate(classes)
    }
    return result


def _bin_list(histogram: dict | None, bounds: Sequence[float]) -> list[int]:
    """DuckDB's {upper bound: count} as [<= first bound, each (lo, hi] bin..., above last]."""
    histogram = histogram or {}
    counts = [int(histogram.get(float(b), 0)) for b in bounds]
    above = sum(int(n) for key, n in histogram.items() if key == float("inf"))
    if sum(counts) + above != sum(int(n) for n in histogram.values()):
        raise ValueError("histogram bounds came back changed")  # would lose rows silently
    return [*counts, above]


def categories(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    types: dict[str, str],
    known: dict[str, list[str]],
) -> dict[str, dict[str, Any]]:
    """Per categorical feature: counts of known categories, missing, unseen (rows, distinct).

    One scan groups every column (grouping sets); the join to the known categories stays in
    DuckDB, so a flood of distinct unseen values never reaches Python.
    """
    empty = {"missing": None, "counts": {}, "unseen": 0, "unseen_distinct": 0}
    present = [name for name in known if layout.FEATURE_PREFIX + name in types]
    results: dict[str, dict[str, Any]] = {name: dict(empty, counts={}) for name in known}
    if not present:
        return results
    columns = [
        f"CAST({ident(layout.FEATURE_PREFIX + n)} AS VARCHAR) AS c{i}"
        for i, n in enumerate(present)
    ]
    names = [f"c{i}" for i in range(len(present))]
    flags = ", ".join(f"grouping({c}) AS g{i}" for i, c in enumerate(names))
    sets = ", ".join(f"({c})" for c in names)
    pick = "SELECT {i} AS f, c{i} AS v, n FROM g WHERE g{i} = 0"  # noqa: S608 (names made here)
    long = " UNION ALL ".join(pick.format(i=i) for i in range(len(names)))
    query = f"""
        WITH g AS (SELECT {", ".join(names)}, {flags}, count(*) AS n
                   FROM (SELECT {", ".join(columns)} FROM {source()})
                   GROUP BY GROUPING SETS ({sets})),
             long AS ({long}),
             known AS (SELECT unnest($known_f) AS f, unnest($known_v) AS v)
        SELECT l.f, l.v IS NULL AS missing, k.v IS NOT NULL AS seen,
               CASE WHEN k.v IS NULL THEN NULL ELSE l.v END AS value, sum(l.n), count(*)
        FROM long l LEFT JOIN known k ON l.f = k.f AND l.v = k.v GROUP BY ALL
    """  # noqa: S608 (identifiers escaped, values bound)
    pairs = [(i, v) for i, name in enumerate(present) for v in known[name]]
    bound = {**params, "known_f": [i for i, _ in pairs], "known_v": [v for _, v in pairs]}
    for name in present:
        results[name]["missing"] = 0
    for f, missing, seen, value, n, distinct in con.execute(query, bound).fetchall():
        result = results[present[f]]
        if missing:
            result["missing"] = int(n)
        elif seen:
            result["counts"][value] = int(n)
        else:
            result["unseen"], result["unseen_distinct"] = int(n), int(distinct)
    return results
