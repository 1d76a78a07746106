"""Feedback without a model name: find which model logged each id, then record per model.

Ids are unique across models and carry the time they were made, so only the day folders of
the ids that the logs still have are read, in one DuckDB scan of two columns with a
memory cap: the cost grows with the days the ids span, not with the size of the store.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dsba.monitoring import layout
from dsba.monitoring.feedback_store import check_feedback, check_items, store_labels

# No model has this name (names are lowercase letters, digits, '-' and '_'): items routed
# here match no log, so record_feedback reports them as unmatched or invalid, as it would.
_NO_MODEL = "<no model>"


def _models(root: Path) -> list[tuple[str, list[Path]]]:
    """Each model with a prediction log, and its versions' log folders."""
    try:
        models = sorted(p for p in (root / layout.MONITORING_DIR).iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    found = []
    for folder in models:
        versions = [p / layout.LOG_DIR for p in folder.iterdir() if p.name.isdigit()]
        if versions:
            found.append((folder.name, versions))
    return found


def _scan(files: list[Path], wanted: pa.Table) -> list[tuple[str, str]]:
    con = duckdb.connect(config={"threads": 1, "memory_limit": "256MB"})
    try:
        con.register("wanted", wanted)
        query = (  # the log's fixed id and model columns (layout.ID, layout.MODEL)
            'SELECT DISTINCT "id", "model" FROM read_parquet($files, union_by_name = true) '
            'WHERE "id" IN (SELECT id FROM wanted)'
        )
        return con.execute(query, {"files": [str(f) for f in files]}).fetchall()
    finally:
        con.close()


def owners(root: Path, ids: list[str]) -> dict[str, str]:
    """The model that logged each id (ids whose day the log no longer has find none)."""
    wanted = pa.table({"id": pa.array(sorted(set(ids)), pa.string())})
    days = [
        day for _, folders in _models(root) for f in folders for day in layout.days_of_ids(f, ids)
    ]
    if not days:
        return {}

    def scan() -> dict[str, str]:
        files = [path for day in days for path in layout.live_files(day)]
        return dict(_scan(files, wanted)) if files else {}

    return layout.read_live(scan)


def record_feedback_any(root: Path, items: Any) -> dict[str, Any]:
    """Store labels for ids of any model: each item goes to the model that logged its id."""
    check_items(items)
    ids = [
        item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]
    owner = owners(root, ids)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        given = item.get("id") if isinstance(item, dict) else None
        groups[owner.get(given, _NO_MODEL) if isinstance(given, str) else _NO_MODEL].append(index)
    total: dict[str, Any] = {"accepted": 0, "unmatched": 0, "invalid": []}
    checked = []
    for name, indexes in groups.items():
        result, labels = check_feedback(root, name, [items[i] for i in indexes], indexes)
        checked.append((name, labels))
        total["accepted"] += result["accepted"]
        total["unmatched"] += result["unmatched"]
        total["invalid"] += result["invalid"]
    # Stored once every model's items passed: a refused request stores nothing.
    for name, labels in checked:
        store_labels(root, name, labels)
    total["invalid"].sort(key=lambda entry: entry["index"])
    return total
