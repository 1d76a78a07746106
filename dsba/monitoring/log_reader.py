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


def summary(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    types: dict[str, str],
    numeric: dict[str, dict[str, Any]],
    classes: list[str],
) -> dict[str, Any]:
    """Rows, numeric bin counts and ranges, missing counts, classes and probability histograms."""
    parts = ["count(*)", f"histogram({ident(layout.PREDICTION)})"]
    # Bounds go in as bound parameters: a decimal literal may parse to a neighbouring double.
    bound: dict[str, Any] = {**params, "proba_bounds": PROBA_BOUNDS}
    for i, (name, profile) in enumerate(numeric.items()):
        x = numeric_expr(layout.FEATURE_PREFIX + name, types)
        bound.update({f"b{i}": profile["boundaries"], f"lo{i}": profile["min"]})
        bound[f"hi{i}"] = profile["max"]
        parts += [
            f"count(*) FILTER (WHERE {x} IS NULL OR isnan({x}))",
            f"histogram({x}, $b{i}::DOUBLE[]) FILTER (WHERE NOT isnan({x}))",
            f"avg({x}) FILTER (WHERE {x} < $lo{i}::DOUBLE)",
            f"avg({x}) FILTER (WHERE {x} > $hi{i}::DOUBLE AND NOT isnan({x}))",
        ]
    for label in classes:
        p = numeric_expr(layout.PROBA_PREFIX + label, types)
        parts.append(f"histogram({p}, $proba_bounds::DOUBLE[])")
    row = con.execute(f"SELECT {', '.join(parts)} FROM {source()}", bound).fetchone()  # noqa: S608 (identifiers escaped, values bound)
    assert row is not None
    result: dict[str, Any] = {"rows": int(row[0]), "predictions": dict(row[1] or {})}
    features, at = {}, 2
    for name, profile in numeric.items():
        missing, hist, below, above = row[at : at + 4]
        at += 4
        counts = _bin_list(hist, profile["boundaries"])
        features[name] = {"missing": int(missing), "counts": counts}
        features[name].update(below_mean=below, above_mean=above)
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
    name: str,
    known: list[str],
) -> dict[str, Any]:
    """Counts of each known category, missing, and unseen values (rows and distinct values)."""
    column = layout.FEATURE_PREFIX + name
    if column not in types:
        return {"missing": None, "counts": {}, "unseen": 0, "unseen_distinct": 0}
    text = f"CAST({ident(column)} AS VARCHAR)"
    query = f"""
        WITH counts AS (SELECT {text} AS v, count(*) AS n FROM {source()} GROUP BY 1),
             known AS (SELECT unnest($known) AS v)
        SELECT c.v IS NULL AS missing, k.v IS NOT NULL AS seen,
               CASE WHEN k.v IS NULL THEN NULL ELSE c.v END AS value, sum(c.n), count(*)
        FROM counts c LEFT JOIN known k ON c.v = k.v GROUP BY ALL
    """  # noqa: S608 (identifiers escaped, values bound)
    rows = con.execute(query, {**params, "known": known}).fetchall()
    result: dict[str, Any] = {"missing": 0, "counts": {}, "unseen": 0, "unseen_distinct": 0}
    for missing, seen, value, n, distinct in rows:
        if missing:
            result["missing"] = int(n)
        elif seen:
            result["counts"][value] = int(n)
        else:
            result["unseen"], result["unseen_distinct"] = int(n), int(distinct)
    return result


def volume(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[tuple[int, int]]:
    """(hour as epoch microseconds, rows) for every hour of the window that has rows."""
    query = (
        f"SELECT epoch_us({ident(layout.TS)}) // {HOUR_US} * {HOUR_US} AS hour, count(*) "  # noqa: S608 (identifiers escaped, values bound)
        f"FROM {source()} GROUP BY 1 ORDER BY 1"
    )
    return [(int(h), int(n)) for h, n in con.execute(query, params).fetchall()]


def confidence_by_day(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], types: dict[str, str], classes: list
) -> list[tuple[int, int, int]]:
    """(day as epoch microseconds, reliability bin of the top probability, rows)."""
    probas = ", ".join(numeric_expr(layout.PROBA_PREFIX + c, types) for c in classes)
    top = f"greatest({probas})" if len(classes) > 1 else probas
    query = (
        f"SELECT epoch_us({ident(layout.TS)}) // {DAY_US} * {DAY_US} AS day, "  # noqa: S608 (identifiers escaped, values bound)
        f"least(greatest(CAST(floor({top} * 10) AS INTEGER), 0), 9) AS bin, count(*) "
        f"FROM {source()} WHERE {top} IS NOT NULL GROUP BY ALL ORDER BY 1, 2"
    )
    return [(int(d), int(b), int(n)) for d, b, n in con.execute(query, params).fetchall()]
