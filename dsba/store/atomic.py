"""Atomic file primitives that hold on a local disk and on an SMB share (renames, no locks)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from dsba.errors import NotFound, StoreError


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes, staging: Path | None = None) -> None:
    """Write bytes to path so readers see the old file or the new one, never a part.

    The temporary file goes beside path, or into staging (a lock's owner folder: a write
    whose folder was taken away fails instead of landing).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = (staging or path.parent) / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, payload: Any, staging: Path | None = None) -> None:
    """Write JSON to path atomically (the temporary file in staging if given)."""
    data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
    atomic_write_bytes(path, data, staging)


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# Staging folders live for the seconds a save takes; older ones were left by a killed process.
STALE_STAGING_SECONDS = 6 * 3600


def read_store_json(path: Path, what: str) -> Any:
    """Read a JSON file of the store: absent is NotFound, unreadable is a StoreError."""
    try:
        return read_json(path)
    except FileNotFoundError as exc:
        raise NotFound(f"{what} not found") from exc
    except (OSError, ValueError) as exc:
        # The OS error names server paths: it stays in the cause, which the server logs.
        raise StoreError(f"{what} is unreadable") from exc


def staging_dir(root: Path) -> Path:
    """Create a fresh private folder under <root>/tmp, on the same filesystem as the store."""
    sweep_stale(root / "tmp")
    path = root / "tmp" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def sweep_stale(folder: Path, older_than: float = STALE_STAGING_SECONDS) -> None:
    """Delete what a killed save or delete left in folder (anything not touched for hours)."""
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            continue  # another process swept it first


def remove_tree(path: Path, root: Path) -> None:
    """Make a folder vanish at once (rename into tmp), then delete it."""
    grave = root / "tmp" / f"deleted-{uuid.uuid4().hex}"
    grave.parent.mkdir(parents=True, exist_ok=True)
    os.rename(path, grave)
    shutil.rmtree(grave, ignore_errors=True)
