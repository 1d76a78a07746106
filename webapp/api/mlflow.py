"""MLflow's scoring-server JSON formats, turned into records (one {column: value} per row).

MLflow (mlflow/pyfunc/scoring_server) accepts a JSON object with exactly one of
dataframe_split, dataframe_records, instances or inputs (other keys, e.g. "params", are
ignored here); dataframe_split may carry an "index", which orders nothing in the answer.
"""

from __future__ import annotations

from typing import Any

from dsba.errors import InvalidInput, TooLarge
from webapp.api.docs import PENGUIN

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_ROWS = {"type": "array", "items": {"type": "object"}}
_COLUMNS = {"type": "object", "additionalProperties": {"type": "array"}}
INVOCATIONS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "exactly one of the four MLflow input formats",
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": {"type": "array", "items": {"type": "array"}},
                            "index": {"type": "array"},
                        },
                        "required": ["data"],
                    },
                    "dataframe_records": _ROWS,
                    "instances": {"oneOf": [_ROWS, _COLUMNS]},
                    "inputs": {"oneOf": [_ROWS, _COLUMNS]},
                },
            },
            # Every feature of the quick start's penguins model: it scores this as it is.
            "example": {
                "dataframe_split": {"columns": list(PENGUIN), "data": [list(PENGUIN.values())]}
            },
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


def _check_rows(count: int, limit: int) -> None:
    if count > limit:
        raise TooLarge(f"{count:,} rows exceed the batch limit of {limit:,}")


def _from_split(split: Any, limit: int) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise InvalidInput("dataframe_split must be an object with a 'data' list of rows")
    extra = sorted(set(split) - {"columns", "data", "index"})
    if extra:
        raise InvalidInput(
            f"dataframe_split takes 'columns', 'data' and 'index', not {', '.join(extra)}"
        )
    columns, rows = split.get("columns"), split["data"]
    _check_rows(len(rows), limit)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput("dataframe_split needs 'columns', a list of column names")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidInput(
                f"dataframe_split row {index} must be a list of {len(columns)} values, "
                "one per column",
                {"row": index},
            )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _from_columns(columns: dict[str, Any], key: str, limit: int) -> list[dict[str, Any]]:
    if not all(isinstance(values, list) for values in columns.values()):
        raise InvalidInput(f"{key} as columns must map each column name to a list of values")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise InvalidInput(f"every column of {key} must have the same number of values")
    count = lengths.pop() if lengths else 0
    _check_rows(count, limit)
    names = list(columns)
    return [{name: columns[name][i] for name in names} for i in range(count)]


def records_from_mlflow(payload: Any, limit: int) -> list[dict[str, Any]]:
    """Rows of an MLflow scoring request, as records; bad shapes are InvalidInput."""
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"the body must be a JSON object with exactly one of {', '.join(FORMATS)}"
        )
    keys = [key for key in FORMATS if key in payload]
    if len(keys) != 1:
        given = ", ".join(map(str, payload)) or "none"
        raise InvalidInput(
            f"give exactly one of {', '.join(FORMATS)}; got {given}",
            {"keys": [str(k) for k in payload]},
        )
    key = keys[0]
    data = payload[key]
    if key == "dataframe_split":
        return _from_split(data, limit)
    if key != "dataframe_records" and isinstance(data, dict):
        return _from_columns(data, key, limit)
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise InvalidInput(f"{key} must be a list of objects, one per row (column: value)")
    _check_rows(len(data), limit)
    return data
