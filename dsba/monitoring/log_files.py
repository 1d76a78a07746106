"""Write one Parquet file of the prediction log or the feedback: one writer per file name."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import socket
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dsba.monitoring import layout


class _Writer:
    """This process's name for its files: host, pid, a random token and a sequence number."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"
        # The token tells apart replicas with one host name and pid (containers often share them).
        self.prefix = f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        self.sequence = itertools.count()
        self.lock = threading.Lock()

    def next_name(self) -> str:
        with self.lock:
            return f"{self.prefix}-{next(self.sequence):06d}{layout.SUFFIX}"


_WRITER = _Writer()
os.register_at_fork(after_in_child=_WRITER.reset)


def write_table(day_dir: Path, table: pa.Table) -> str:
    """Write table as a new file of day_dir by an atomic rename; return its name."""
    name = _WRITER.next_name()
    # The temporary name does not end in .parquet: readers never see a file half written.
    # No fsync: a rename survives a killed process, and the log is not worth a disk flush
    # per worker and second (a power cut may lose the last seconds, as it may anyway).
    tmp = day_dir / f".{name}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.rename(tmp, day_dir / name)
    finally:
        tmp.unlink(missing_ok=True)
    return name


def store_writable(root: Path) -> bool:
    """Whether the store takes a file in its monitoring folder (a probe, written, deleted)."""
    probe = root / layout.MONITORING_DIR / f".probe-{_WRITER.prefix}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True
