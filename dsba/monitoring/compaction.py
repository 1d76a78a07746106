"""Merge a finished day's small log files into a few large ones, and delete expired days.

Any process may do this, at any time, beside writers, readers and other compactors: the
day's folder lock admits one compactor, and the manifest protocol of layout.py keeps
readers seeing every row exactly once (compacted file first, then the manifest, then the
deletions).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dsba.monitoring import layout
from dsba.store.atomic import remove_tree
from dsba.store.locks import FolderLock, LockLost, folder_lock

ROWS_PER_FILE = 1_000_000
# Rows gathered before a row group is written: single-row files make no single-row groups.
ROW_GROUP_ROWS = 128 * 1024
LOCK_NAME = ".compaction.lock"

log = logging.getLogger(__name__)


def _small_files(day_dir: Path, manifest: dict[str, list[str]]) -> list[str]:
    replaced = set(manifest["replaced"])
    return sorted(
        p.name
        for p in day_dir.iterdir()
        if p.name.endswith(layout.SUFFIX)
        and not p.name.startswith(layout.COMPACT_PREFIX)
        and p.name not in replaced
    )


def _delete(day_dir: Path, names: list[str]) -> None:
    for name in names:
        (day_dir / name).unlink(missing_ok=True)


def _merge(
    day_dir: Path, names: list[str], lock: FolderLock, rows_per_file: int
) -> tuple[list[str], list[str]]:
    """Write the rows of names into compact files (staged in the lock); the names merged."""
    schema = pq.read_schema(day_dir / names[0])
    merged, written, pending, rows_in_file = [], [], [], 0
    writer: pq.ParquetWriter | None = None

    def flush_group() -> None:
        nonlocal writer
        if not pending:
            return
        if writer is None:
            # Named by time, so a folder listed in name order reads rows in logged order.
            stamp = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
            written.append(f"{layout.COMPACT_PREFIX}{stamp}{layout.SUFFIX}")
            writer = pq.ParquetWriter(lock.baton / written[-1], schema)
        writer.write_table(pa.Table.from_batches(pending, schema))
        pending.clear()

    def close_file() -> None:
        nonlocal writer, rows_in_file
        flush_group()
        if writer is not None:
            writer.close()
            # Out of the baton: a lock broken as stale meanwhile makes this rename fail.
            os.rename(lock.baton / written[-1], day_dir / written[-1])
        writer, rows_in_file = None, 0

    for name in names:
        source = pq.ParquetFile(day_dir / name)
        if source.schema_arrow != schema:
            continue  # written by another release: left live, as it is
        for batch in source.iter_batches(batch_size=ROW_GROUP_ROWS):
            pending.append(batch)
            rows_in_file += batch.num_rows
            if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                flush_group()
        merged.append(name)
        if rows_in_file >= rows_per_file:
            close_file()
    close_file()
    return merged, written


def compact_day(day_dir: Path, rows_per_file: int = ROWS_PER_FILE) -> bool:
    """Compact a finished day's small files; True when it did (False: nothing to do)."""
    try:
        if len(_small_files(day_dir, layout.read_manifest(day_dir))) < 2:
            return False
    except FileNotFoundError:
        return False
    with folder_lock(day_dir / LOCK_NAME) as lock:
        manifest = layout.read_manifest(day_dir)
        # What a compactor killed midway left: replaced files, and compact files never named.
        _delete(day_dir, manifest["replaced"])
        named = set(manifest["compacted"])
        orphans = [
            p.name
            for p in day_dir.glob(f"{layout.COMPACT_PREFIX}*{layout.SUFFIX}")
            if p.name not in named
        ]
        _delete(day_dir, orphans)
        small = _small_files(day_dir, {"compacted": [], "replaced": []})
        if len(small) < 2:
            return False
        merged, written = _merge(day_dir, small, lock, rows_per_file)
        # The old round's replaced names go: those files are deleted, so the list stays short.
        lock.write_json(
            day_dir / layout.MANIFEST,
            {"compacted": manifest["compacted"] + written, "replaced": merged},
        )
        _delete(day_dir, merged)
    return True


def _day(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.name)
    except ValueError:
        return None


def day_dirs(folder: Path) -> list[tuple[date, Path]]:
    """The day folders of a log or feedback folder, oldest first."""
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((day, p) for p in entries if p.is_dir() and (day := _day(p)) is not None)


def compact_finished(folder: Path, today: date) -> int:
    """Compact every day before today in a log or feedback folder; the days compacted."""
    done = 0
    for day, path in day_dirs(folder):
        if day < today:
            try:
                done += compact_day(path)
            except (OSError, TimeoutError, LockLost) as exc:
                log.warning(
                    "compaction of a log day failed", extra={"day": str(path), "error": str(exc)}
                )
    return done


def drop_expired(root: Path, name: str, today: date, keep_days: int) -> int:
    """Delete day folders older than keep_days of every version's log and of the feedback."""
    cutoff = today - timedelta(days=keep_days)
    model_dir = layout.model_dir(root, name)
    folders = [model_dir / layout.FEEDBACK_DIR]
    with contextlib.suppress(FileNotFoundError):
        folders += [p / layout.LOG_DIR for p in model_dir.iterdir() if p.name.isdigit()]
    removed = 0
    for folder in folders:
        for day, path in day_dirs(folder):
            if day < cutoff:
                with contextlib.suppress(FileNotFoundError):  # another process was first
                    remove_tree(path, root)
                    removed += 1
    return removed


def maintain(root: Path, name: str, version: int, today: date, keep_days: int) -> None:
    """Compact a version's finished log days, delete the model's expired days; never raise.

    The writer calls this once a day per version; a reader may too, before reading.
    """
    try:
        compact_finished(layout.log_dir(root, name, version), today)
        drop_expired(root, name, today, keep_days)
    except Exception as exc:  # noqa: BLE001 - maintenance is retried by the next process
        log.warning("prediction log maintenance failed", extra={"error": repr(exc)})
