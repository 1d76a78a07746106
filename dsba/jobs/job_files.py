"""Names of job records that sort by time, and markers of the jobs that may be active.

Listing the newest jobs or counting the active ones must not open every record: on an SMB
share each open is a network round trip, and the store keeps DSBA_JOB_HISTORY of them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

_HEX = frozenset("0123456789abcdef")
ID_LENGTH = 32
# The version digit of a time-ordered id, where a uuid4 (the ids of older stores) has "4".
_TIMED = "7"


def new_job_id() -> str:
    """A random id whose hex sorts by creation time: 12 digits of milliseconds, then 7, then 19."""
    return f"{time.time_ns() // 1_000_000:012x}{_TIMED}{secrets.token_hex(10)[:19]}"


def is_job_id(text: str) -> bool:
    """True if text has the shape of a job id (either kind)."""
    return len(text) == ID_LENGTH and set(text) <= _HEX


def record_ids(folder: Path) -> tuple[list[str], list[str]]:
    """The ids in folder: time-ordered ones newest first, then older uuid4 ones unordered.

    Every time-ordered id is newer than every uuid4 one: uuid4 ids predate them.
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return [], []
    ids = [name[:-5] for name in names if name.endswith(".json") and is_job_id(name[:-5])]
    timed = sorted((i for i in ids if i[12] == _TIMED), reverse=True)
    return timed, [i for i in ids if i[12] != _TIMED]


class ActiveMarkers:
    """<jobs>/active/<id>: an empty file per job that may be queued or running.

    A marker is a hint, the record decides: a marker whose record is finished or gone is
    dropped when seen. Creating it is the moment a new job becomes visible to the limit.
    """

    def __init__(self, jobs_folder: Path) -> None:
        self.folder = jobs_folder / "active"

    def add(self, job_id: str) -> None:
        """Mark a job as possibly active."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / job_id).touch()

    def drop(self, job_id: str) -> None:
        """Forget a job that has ended."""
        with contextlib.suppress(OSError):
            (self.folder / job_id).unlink()

    def ids(self) -> list[str] | None:
        """The marked ids; None when this store has never had markers (written before them)."""
        try:
            return [name for name in os.listdir(self.folder) if is_job_id(name)]
        except FileNotFoundError:
            return None
