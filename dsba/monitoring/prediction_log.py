"""The prediction log of one process: rows buffered on the request thread, written behind.

record() only stamps ids and appends references to a bounded buffer; a daemon thread
converts and writes the buffer about every second (one Parquet file per model version and
UTC day, see layout.py), then compacts the finished days of the versions it wrote to and
deletes expired ones, once a day per version. A write that fails (full or read-only store)
drops its rows: they are counted and warned about, never raised to the caller; until a
probe file lands again, later rows are dropped on arrival and get no id (an id names a
logged row, so only the rows of about one second before the failure carry ids in vain).
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsba.monitoring import compaction, layout
from dsba.monitoring.ids import new_ids
from dsba.monitoring.log_files import store_writable, write_table
from dsba.monitoring.log_table import Pending, build_table

if TYPE_CHECKING:  # the log reads a loaded model's name, version and schema, nothing more
    from dsba.registry.model_registry import LoadedModel

FLUSH_SECONDS = 1.0
# A writer thread with nothing to write this long ends; the next record() starts another.
IDLE_SECONDS = 60.0
MAX_BUFFERED_ROWS = 100_000
WARN_EVERY_SECONDS = 60.0
# A day is compacted once it has been over this long: other workers' last rows of it are in.
FINISHED_AFTER_SECONDS = 300.0

log = logging.getLogger(__name__)
_LOGS: weakref.WeakSet[PredictionLog] = weakref.WeakSet()


class PredictionLog:
    """Buffer scored rows and write them to <root>/monitoring in the background."""

    def __init__(
        self,
        root: Path,
        *,
        sample: float = 1.0,
        keep_days: int = 90,
        flush_seconds: float = FLUSH_SECONDS,
        max_buffered_rows: int = MAX_BUFFERED_ROWS,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.root, self.sample, self.keep_days = Path(root), sample, keep_days
        self.flush_seconds, self.max_buffered_rows = flush_seconds, max_buffered_rows
        self.on_drop = on_drop
        self.dropped = 0
        self._maintained: set[tuple[str, int, date]] = set()
        self._reset()
        _LOGS.add(self)

    def _reset(self) -> None:
        """Start empty, without a thread: in a forked child the parent's rows are not ours."""
        self._lock, self._flushing = threading.Lock(), threading.Lock()
        self._pending: list[Pending] = []
        self._rows = 0
        self._thread: threading.Thread | None = None
        self._maintenance: list[threading.Thread] = []
        self._stop = threading.Event()
        self._warned_at = -WARN_EVERY_SECONDS
        # The store refused a write: rows are dropped at once, without ids, until it takes one.
        self._failing = False

    def record(
        self,
        model: LoadedModel,
        source: str,
        request_id: str | None,
        inputs: Any,
        predictions: Any,
    ) -> list[str] | None:
        """Queue a scored request; return its rows' ids, or None when it is not logged.

        inputs are the records or the frame scored, predictions the Predictions made of them
        (labels and probabilities, or a regression's values and intervals); neither is
        copied, so the caller must not change them.
        """
        count = len(predictions.labels)
        if count == 0 or (self.sample < 1.0 and random.random() >= self.sample):
            return None
        at = time.time()
        with self._lock:
            if self._thread is None:
                self._start()
            if self._failing:
                refused = "the store refuses the prediction log's files"
            elif self._rows + count > self.max_buffered_rows:
                refused = "the prediction log's buffer is full"
            else:
                refused, ids = "", new_ids(count, at)
                self._pending.append(
                    Pending(
                        model.name,
                        model.version,
                        model.schema,
                        source,
                        request_id,
                        inputs,
                        predictions.labels,
                        predictions.probabilities,
                        at,
                        ids,
                        getattr(predictions, "intervals", None),
                    )
                )
                self._rows += count
        if refused:
            self._drop(count, refused)
            return None
        return ids

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        idle = 0.0
        while not self._stop.wait(self.flush_seconds):
            busy = self.flush() or self._failing
            idle = 0.0 if busy else idle + self.flush_seconds
            if idle >= IDLE_SECONDS:
                with self._lock:  # a record() arriving now sees no thread and starts one
                    if not self._pending:
                        self._thread = None
                        return

    def flush(self) -> int:
        """Write every buffered row now; the rows taken (the writer does this every second)."""
        with self._flushing:
            if self._failing:
                self._failing = not store_writable(self.root)
            with self._lock:
                pending, self._pending, self._rows = self._pending, [], 0
            groups: dict[tuple[str, int, date], list[Pending]] = {}
            for item in pending:
                day = datetime.fromtimestamp(item.at, UTC).date()
                groups.setdefault((item.name, item.version, day), []).append(item)
            for key, batches in groups.items():
                self._write(key, batches)
        return len(pending)

    def _write(self, key: tuple[str, int, date], batches: list[Pending]) -> None:
        name, version, day = key
        try:
            table = build_table(batches)
            folder = layout.log_dir(self.root, name, version) / layout.day_name(day)
            folder.mkdir(parents=True, exist_ok=True)
            write_table(folder, table)
        except Exception as exc:  # noqa: BLE001 - a log failure must never stop the writer
            self._failing = isinstance(exc, OSError)
            self._drop(sum(len(b.ids) for b in batches), f"a log write failed: {exc!r}")
            return
        into_day = time.time() - datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        if key not in self._maintained and into_day >= FINISHED_AFTER_SECONDS:
            self._maintained.add(key)
            # Aside, so that compacting a big day never holds up the next flushes; a process
            # that exits midway leaves the work to the next (the manifest protocol allows it).
            worker = threading.Thread(
                target=compaction.maintain,
                args=(self.root, name, version, day, self.keep_days),
                name="log-compaction",
                daemon=True,
            )
            self._maintenance = [t for t in self._maintenance if t.is_alive()] + [worker]
            worker.start()

    def _drop(self, count: int, reason: str) -> None:
        with self._lock:  # request threads and the writer both drop
            self.dropped += count
        if self.on_drop is not None:
            self.on_drop(count)
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "prediction log rows dropped",
                extra={"reason": reason, "dropped_total": self.dropped},
            )

    def close(self, maintenance_timeout: float = 10.0) -> None:
        """Stop the writer thread, write what is buffered, give compactions a moment."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()
        deadline = time.monotonic() + maintenance_timeout
        for worker in self._maintenance:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))


def close_all() -> None:
    """Flush and stop every prediction log of this process (gunicorn's worker_exit, atexit)."""
    for prediction_log in list(_LOGS):
        prediction_log.close()


def _after_fork() -> None:
    for prediction_log in list(_LOGS):
        prediction_log._reset()


os.register_at_fork(after_in_child=_after_fork)
atexit.register(close_all)
