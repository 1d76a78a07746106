"""Scored files kept for an hour in the store, so whichever worker is asked can serve them."""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from dsba.errors import NotFound
from dsba.store.atomic import atomic_write_bytes, atomic_write_json, read_store_json, sweep_stale

KEEP_SECONDS = 3600
# At most this many files at once: an upload loop cannot fill the share.
KEEP_FILES = 50
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class ScoredFiles:
    """A scored CSV and its JSON summary under <root>/tmp/scored, named by an unguessable token."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "tmp" / "scored"

    def put(self, data: bytes, summary: dict[str, Any]) -> str:
        """Keep a scored file and its summary; return the token that reads them back."""
        self._sweep()
        token = secrets.token_urlsafe(24)
        atomic_write_bytes(self.folder / f"{token}.csv", data)
        # The summary last: once it is readable, so is the file.
        atomic_write_json(self.folder / f"{token}.json", summary)
        return token

    def summary(self, token: str) -> dict[str, Any]:
        """The summary kept with a token; NotFound when unknown or expired."""
        return read_store_json(self._path(token, ".json"), "scored file")

    def csv_bytes(self, token: str) -> bytes:
        """The scored file kept with a token; NotFound when unknown or expired."""
        try:
            return self._path(token, ".csv").read_bytes()
        except FileNotFoundError as exc:  # swept between the check and the read
            raise NotFound("scored file not found: it has expired") from exc

    def _path(self, token: str, suffix: str) -> Path:
        # The pattern keeps anything but a token (e.g. "../x") away from the filesystem.
        path = self.folder / f"{token}{suffix}"
        try:
            fresh = TOKEN.match(token) and time.time() - path.stat().st_mtime < KEEP_SECONDS
        except FileNotFoundError:
            fresh = False
        if not fresh:
            raise NotFound("scored file not found: it may have expired (they are kept an hour)")
        return path

    def _sweep(self) -> None:
        sweep_stale(self.folder, KEEP_SECONDS)
        try:
            entries = sorted(os.scandir(self.folder), key=_modified)
        except FileNotFoundError:
            return
        # Two files (CSV and summary) per token; the oldest go first.
        for entry in entries[: max(0, len(entries) - 2 * (KEEP_FILES - 1))]:
            Path(entry.path).unlink(missing_ok=True)


def _modified(entry: os.DirEntry) -> float:
    try:
        return entry.stat().st_mtime
    except FileNotFoundError:  # another worker swept it meanwhile
        return 0.0
