"""Where the prediction log and the feedback live in the store, and which files a reader takes.

<root>/monitoring/<model>/<version>/log/<YYYY-MM-DD>/<writer>.parquet   logged predictions
<root>/monitoring/<model>/feedback/<YYYY-MM-DD>/<writer>.parquet        ground-truth labels

Each file has one writer (host, pid and a sequence number in its name) and lands by an atomic
rename, so replicas on one share never write the same file. A finished day is compacted:
the compacted file is written first (readers ignore it while the manifest does not name it),
then manifest.json is replaced atomically, naming it and the small files it replaces (readers
skip those from then on), then the small files are deleted. A reader that lists the folder
at any moment of that sequence sees every row exactly once.

Column types: id, model, request_id, source and feedback's label are strings; ts and
received_at are timestamp[us, UTC]; version is int32. A feature column holds the value the
model read, typed by the feature's kind: numeric float64 (null when missing), boolean float64
0/1, categorical the value's text (an unseen category keeps its text), datetime
timestamp[us, UTC]. A classifier's prediction is the label as text, followed by one float64
proba:<class> column per class; a regression model's prediction is the value (float64),
followed by prediction_lower and prediction_upper (float64, the interval's bounds) and no
proba: column. Feedback labels are text for either (a number as Python writes it: 151.5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb

from dsba.monitoring.ids import id_time

T = TypeVar("T")
# Tries of a read that lists live files: a compaction may delete a listed file before it is read.
READ_ATTEMPTS = 3

MONITORING_DIR = "monitoring"
LOG_DIR = "log"
FEEDBACK_DIR = "feedback"
MANIFEST = "manifest.json"
COMPACT_PREFIX = "compact-"
SUFFIX = ".parquet"

# Columns of a log file. Features and probabilities get a prefix: a feature may be named
# like any of the fixed columns.
ID, TS, MODEL, VERSION, REQUEST_ID, SOURCE, PREDICTION = (
    "id",
    "ts",
    "model",
    "version",
    "request_id",
    "source",
    "prediction",
)
PREDICTION_LOWER, PREDICTION_UPPER = "prediction_lower", "prediction_upper"
FEATURE_PREFIX = "feature:"
PROBA_PREFIX = "proba:"
# Columns of a feedback file.
LABEL, RECEIVED_AT = "label", "received_at"
SOURCES = ("api", "invocations", "form", "batch", "cli")


def is_regression(schema: dict) -> bool:
    """Whether a version's schema (schema.json) is a regression model's (absent: a classifier)."""
    return schema.get("task") == "regression"


def model_dir(root: Path, name: str) -> Path:
    """The monitoring folder of a model."""
    return root / MONITORING_DIR / name


def log_dir(root: Path, name: str, version: int) -> Path:
    """The prediction log folder of one model version (one subfolder per UTC day)."""
    return model_dir(root, name) / str(version) / LOG_DIR


def feedback_dir(root: Path, name: str) -> Path:
    """The feedback folder of a model (labels apply to ids of any of its versions)."""
    return model_dir(root, name) / FEEDBACK_DIR


def day_name(day: date) -> str:
    """The folder name of a UTC day."""
    return day.isoformat()


def read_manifest(day_dir: Path) -> dict[str, list[str]]:
    """The day's manifest: compacted files and the small files they replaced (empty if none)."""
    try:
        payload = json.loads((day_dir / MANIFEST).read_bytes())
    except (FileNotFoundError, ValueError):
        return {"compacted": [], "replaced": []}
    return {key: list(payload.get(key, [])) for key in ("compacted", "replaced")}


def live_files(day_dir: Path) -> list[Path]:
    """The files of a day a reader takes: each logged row appears in exactly one of them.

    The listing must match the manifest: one read before it and one after must agree (else a
    compaction landed in between: list again). Files may still vanish before they are opened
    (the replaced ones of a compaction that follows): a reader retries on FileNotFoundError.
    """
    while True:
        manifest = read_manifest(day_dir)
        try:
            names = sorted(p.name for p in day_dir.iterdir() if p.name.endswith(SUFFIX))
        except FileNotFoundError:
            return []
        if read_manifest(day_dir) == manifest:
            break
    compacted, replaced = set(manifest["compacted"]), set(manifest["replaced"])
    return [
        day_dir / name
        for name in names
        if (name in compacted) or (not name.startswith(COMPACT_PREFIX) and name not in replaced)
    ]


def days_between(since: datetime, until: datetime) -> list[date]:
    """The UTC days a window [since, until) touches."""
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def log_files(root: Path, name: str, version: int, since: datetime, until: datetime) -> list[Path]:
    """The log files of a model version that may hold rows of the window [since, until)."""
    folder = log_dir(root, name, version)
    return [
        path for day in days_between(since, until) for path in live_files(folder / day_name(day))
    ]


def feedback_files(root: Path, name: str) -> list[Path]:
    """Every live feedback file of a model (labels may arrive days after the prediction)."""
    folder = feedback_dir(root, name)
    try:
        days = sorted(p for p in folder.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    return [path for day in days for path in live_files(day)]


def days_of_ids(log_folder: Path, ids: Iterable[str]) -> list[Path]:
    """The day folders of a log that the ids were made on, among those that exist.

    Forged ids naming thousands of other days cost no folder listing; an id whose day was
    deleted by retention finds nothing.
    """
    named = {day_name(t.date()) for i in ids if (t := id_time(i)) is not None}
    try:
        present = {p.name for p in log_folder.iterdir() if p.is_dir()}
    except FileNotFoundError:
        return []
    return [log_folder / name for name in sorted(named & present)]


def read_live(read: Callable[[], T]) -> T:
    """Run read, which lists live files and reads them, again if a compaction removed one.

    A listing is exact at its moment, but the small files a compaction replaced are deleted
    right after: a reader that listed one a moment before finds it gone, and lists again.
    """
    for attempt in range(READ_ATTEMPTS):
        try:
            return read()
        except duckdb.IOException:
            if attempt == READ_ATTEMPTS - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")
