"""Ground truth for logged predictions: labels by prediction id, checked against the log.

record_feedback answers {"accepted", "unmatched", "invalid"}; every item lands in exactly one
of them. An id the model's log does not hold (any version, within retention) is unmatched;
a label that the version which made the prediction does not know is invalid (labels are
compared as text, like the log's prediction column). A regression version's labels are
numbers (or text that reads as one): any other label for one of its ids refuses the whole
request (InvalidInput naming the ids), nothing stored, as a wrong type in a prediction does.
Accepted labels are stored, one file per request, under layout.feedback_dir (a number as
Python writes it); a repeated id keeps the last label: within a request the last item wins,
across requests a reader takes the latest received_at.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dsba.errors import InvalidInput, TooLarge
from dsba.monitoring import compaction, layout
from dsba.monitoring.log_files import write_table

MAX_ITEMS = 10_000
_compacted: set[tuple[Path, date]] = set()


def label_text(label: Any) -> str:
    """A label as the log writes a prediction (2.0 is the class 2)."""
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def number_text(label: Any) -> str | None:
    """A regression label as the feedback stores it ("151.5"), or None if it is no number."""
    if isinstance(label, bool) or not isinstance(label, str | int | float):
        return None
    try:
        value = float(label.strip() if isinstance(label, str) else label)
    except (ValueError, OverflowError):
        return None
    return repr(value) if math.isfinite(value) else None


def _problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "each item must be an object with 'id' and 'label'"
    if not isinstance(item.get("id"), str) or not item["id"]:
        return "'id' must be a prediction id (text)"
    label = item.get("label")
    if label is None:
        return "'label' is missing"
    if not isinstance(label, str | int | float | bool):
        return "'label' must be a single value"
    return None


def _versions(root: Path, name: str) -> list[int]:
    try:
        entries = list(layout.model_dir(root, name).iterdir())
    except FileNotFoundError:
        return []
    return sorted(int(p.name) for p in entries if p.name.isdigit())


def _match_version(files: list[Path], wanted: pa.Table) -> set[str]:
    con = duckdb.connect()
    try:
        # Bounded: a request's ids against a few days of files, on a web worker.
        con.execute("SET threads TO 1")
        con.execute("SET memory_limit = '256MB'")
        con.register("wanted", wanted)
        query = "SELECT DISTINCT id FROM read_parquet($files) WHERE id IN (SELECT id FROM wanted)"
        rows = con.execute(query, {"files": [str(f) for f in files]}).fetchall()
    finally:
        con.close()
    return {row[0] for row in rows}


class Match(NamedTuple):
    """The version of the log that made a prediction id, and what its labels must be."""

    version: int
    classes: list[str]  # a classifier's classes as text; [] for a regression version
    regression: bool


def match_ids(root: Path, name: str, ids: list[str]) -> dict[str, Match]:
    """Map each logged id to the version that made it and that version's classes (as text)."""
    wanted = pa.table({layout.ID: pa.array(sorted(set(ids)), pa.string())})
    found: dict[str, Match] = {}
    for version in _versions(root, name):
        days = layout.days_of_ids(layout.log_dir(root, name, version), ids)

        def matched_files(days=days) -> tuple[set[str], list[Path]]:
            files = [f for day in days for f in layout.live_files(day)]
            return (_match_version(files, wanted) if files else set()), files

        matched, files = layout.read_live(matched_files)
        names = pq.read_schema(files[0]).names if matched else []
        classes = [
            n[len(layout.PROBA_PREFIX) :] for n in names if n.startswith(layout.PROBA_PREFIX)
        ]
        match = Match(version, classes, layout.PREDICTION_LOWER in names)
        found.update((i, match) for i in matched)
    return found


def items_from_frame(frame: pd.DataFrame, id_column: str, label_column: str) -> list[dict]:
    """{id, label} items from two columns of a table (a missing label stays missing)."""
    absent = [c for c in (id_column, label_column) if c not in frame.columns]
    if absent:
        found = ", ".join(map(str, frame.columns[:20])) or "none"
        named = " and ".join(f"'{c}'" for c in absent)
        noun = "columns" if len(absent) > 1 else "column"
        raise InvalidInput(
            f"the file has no {noun} {named} (its columns: {found})", {"missing_columns": absent}
        )
    pairs = frame[[id_column, label_column]].astype(object)
    pairs = pairs.where(pairs.notna(), None)
    return [
        {"id": None if i is None else str(i), "label": label}
        for i, label in pairs.itertuples(index=False, name=None)
    ]


def check_items(items: Any) -> None:
    """Refuse feedback that is not a list, or is longer than one request may carry."""
    if not isinstance(items, list):
        raise InvalidInput(
            "feedback must be a list of {id, label} objects", {"feedback": "invalid"}
        )
    if len(items) > MAX_ITEMS:
        raise TooLarge(f"{len(items):,} feedback items exceed the limit of {MAX_ITEMS:,}")


def _refuse_text(name: str, refused: list[dict[str, Any]]) -> None:
    """Refuse a request whose labels for a regression version are not numbers."""
    first = refused[0]
    more = f" (and {len(refused) - 1} more items)" if len(refused) > 1 else ""
    raise InvalidInput(
        f"the label {str(first['label'])[:40]!r} of prediction {first['id']} "
        f"(feedback[{first['index']}]) is not a number{more}: {name}:{first['version']} is a "
        "regression model, whose labels are the true values, as numbers",
        {"feedback": [{k: e[k] for k in ("index", "id", "reason")} for e in refused[:20]]},
    )


def check_feedback(
    root: Path, name: str, items: Any, positions: list[int] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answer to feedback for a model, and the labels to store by id (nothing stored).

    positions: each item's index in the request, when items are a part of it. Raises
    InvalidInput when a label for a regression version's prediction is not a number.
    """
    check_items(items)
    places = positions if positions is not None else range(len(items))
    invalid: list[dict[str, Any]] = []
    checked: list[tuple[int, str, Any]] = []
    for index, item in zip(places, items, strict=True):
        problem = _problem(item)
        if problem is None:
            checked.append((index, item["id"], item["label"]))
        else:
            given = item.get("id") if isinstance(item, dict) else None
            invalid.append(
                {"index": index, "id": given if isinstance(given, str) else None, "reason": problem}
            )
    found = match_ids(root, name, [i for _, i, _ in checked]) if checked else {}
    labels: dict[str, str] = {}
    refused: list[dict[str, Any]] = []
    unmatched = accepted = 0
    for index, prediction_id, given in checked:
        if prediction_id not in found:
            unmatched += 1
            continue
        version, classes, regression = found[prediction_id]
        label = number_text(given) if regression else label_text(given)
        if label is None:
            reason = "the label must be a number (the true value of a regression model)"
            entry = {"index": index, "id": prediction_id, "reason": reason}
            refused.append({**entry, "label": given, "version": version})
            continue
        if not regression and label not in classes:
            reason = f"label {label!r} is not a class of {name}:{version} ({', '.join(classes)})"
            invalid.append({"index": index, "id": prediction_id, "reason": reason})
            continue
        accepted += 1
        labels.pop(prediction_id, None)  # the last label wins, and keeps its place
        labels[prediction_id] = label
    if refused:
        _refuse_text(name, refused)
    invalid.sort(key=lambda entry: entry["index"])
    return {"accepted": accepted, "unmatched": unmatched, "invalid": invalid}, labels


def record_feedback(root: Path, name: str, items: Any) -> dict[str, Any]:
    """Store ground-truth labels for logged predictions of a model; count what was not taken."""
    answer, labels = check_feedback(root, name, items)
    store_labels(root, name, labels)
    return answer


def store_labels(root: Path, name: str, labels: dict[str, str]) -> None:
    """Write the accepted labels of one request as one feedback file (none: nothing)."""
    if labels:
        _store(root, name, labels)


def _store(root: Path, name: str, labels: dict[str, str]) -> None:
    now = datetime.now(UTC)
    table = pa.table(
        {
            layout.ID: pa.array(list(labels), pa.string()),
            layout.LABEL: pa.array(list(labels.values()), pa.string()),
            layout.RECEIVED_AT: pa.array([now] * len(labels), pa.timestamp("us", tz="UTC")),
        }
    )
    folder = layout.feedback_dir(root, name)
    day_dir = folder / layout.day_name(now.date())
    day_dir.mkdir(parents=True, exist_ok=True)
    write_table(day_dir, table)
    if (folder, now.date()) not in _compacted:  # once a day per process and model
        _compacted.add((folder, now.date()))
        compaction.compact_finished(folder, now.date())
