"""Per-process memos of what was read from the store, trusted while the files look unchanged.

A file's stamp is its inode and mtime: our writers replace files and folders by rename, which
changes both. Stamps cost one stat each, where reading the store costs several, and a stat is
a network round trip on an SMB share. Each memo also expires after a TTL, for shares whose
mtime is coarser than the time between two writers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable
from typing import Any

Stamp = tuple[int, int] | None


def stamp(path: str) -> Stamp:
    """The (inode, mtime in ns) of path, or None when it is absent."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_ino, info.st_mtime_ns


class StampedMemo:
    """Values remembered with the stamps of the paths they came from, for at most ttl seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[Any, tuple[tuple[str, Stamp], ...], float]] = {}

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The remembered value while it is fresh and its paths are unchanged, else default."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        value, stamps, since = entry
        if time.monotonic() - since >= self.ttl:
            return default
        for path, seen in stamps:
            if stamp(path) != seen:
                return default
        return value

    def put(self, key: Hashable, value: Any, stamps: dict[str, Stamp]) -> None:
        """Remember value with the stamps its paths had before it was read."""
        self._entries[key] = (value, tuple(stamps.items()), time.monotonic())

    def forget(self, key: Hashable) -> None:
        """Drop one memo (this process changed what it was read from)."""
        self._entries.pop(key, None)
