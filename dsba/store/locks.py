"""A lock for read-modify-writes of shared files, across processes, containers and hosts.

SMB honours no flock, so the lock is a folder, present while someone holds it:

    <path>/owner-<token>/owner.json    the baton: the holder's random token, host, pid, time

Why this holds, on a local disk and on an SMB share:

- Taking: the folder is built with its baton in <path>.new/<token> and renamed to <path>. A
  rename onto a folder that exists and is not empty fails (the store's versions rely on the
  same rule), so one taker wins, and a lock is never seen without its baton. (With mkdir a
  lock would exist for a moment without one, and a taker killed in that moment could not be
  told from a taker about to write it.)
- Giving up: only whoever renames the baton away (to gone-<random>) may dismantle the lock:
  the holder on release, or a waiter once the lock is stale. The rename names the holder's
  token, so it cannot touch a lock taken since by someone else (release checks the token
  this way), and of several waiters renaming one baton only one succeeds: a stale lock, left
  by a process killed with SIGKILL, is broken exactly once.
- The dismantler empties the folder, then removes it with rmdir, which fails on a folder that
  is not empty. A live lock always holds a baton, so a late dismantler cannot remove the next
  holder's lock; a folder left empty (its dismantler was killed) is dead, for anyone to remove
  (a local disk even lets a taker rename onto it).
- Stale means nothing in the folder or its baton changed for STALE_LOCK_SECONDS (the folder
  is listed before its times are read, so a lock taken meanwhile looks fresh). A holder
  paused that long (a frozen VM, SIGSTOP) is broken while it believes it holds the lock, so
  its writes go through write_json: the file is written inside the baton and renamed onto
  its target. Once the baton is renamed away that source path no longer exists, the rename
  fails and the late holder gets LockLost instead of overwriting the next holder's work.
- Times are the share's file times compared with this host's clock: hosts must agree within
  seconds (NTP), far below STALE_LOCK_SECONDS.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import random
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsba.store import atomic

# A lock held this long without a write was left by a killed process: alias writes take ms.
STALE_LOCK_SECONDS = 30.0
OWNER_FILE = "owner.json"

log = logging.getLogger(__name__)


class LockLost(RuntimeError):
    """The lock was broken as stale while held, so the write was refused."""


@dataclass(frozen=True)
class FolderLock:
    """A held lock: writes through it land only while it is still held."""

    path: Path
    token: str

    @property
    def baton(self) -> Path:
        """Return the folder that exists inside the lock only while this holder has it."""
        return self.path / f"owner-{self.token}"

    def write_json(self, target: Path, payload: Any) -> None:
        """Replace target with JSON atomically, or raise LockLost if the lock was broken."""
        try:
            atomic.atomic_write_json(target, payload, staging=self.baton)
        except FileNotFoundError as exc:
            if not self.baton.is_dir():
                raise LockLost(f"{self.path.name} was broken as stale while held") from exc
            raise


@contextlib.contextmanager
def folder_lock(path: Path, timeout: float = 10.0) -> Iterator[FolderLock]:
    """Hold the lock at path (its parent must exist) for a read-modify-write of shared files.

    Raises TimeoutError when the lock stays taken for timeout seconds.
    """
    lock = _take(path, timeout)
    try:
        yield lock
    finally:
        if not _dismantle(path, lock.baton.name):
            log.warning("lost a lock while holding it", extra={"lock": str(path)})


def _take(path: Path, timeout: float) -> FolderLock:
    token = uuid.uuid4().hex
    spare = path.with_name(f"{path.name}.new")
    spare.mkdir(exist_ok=True)
    atomic.sweep_stale(spare)  # what takers killed while waiting left
    staging = spare / token
    baton = staging / f"owner-{token}"
    baton.mkdir(parents=True)
    owner = {"token": token, "host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
    (baton / OWNER_FILE).write_text(json.dumps(owner))
    deadline = time.monotonic() + timeout
    try:
        while True:
            os.utime(staging)  # the lock's age starts when it is taken, not when prepared
            try:
                os.rename(staging, path)
                return FolderLock(path, token)
            except OSError as exc:
                if not _taken(exc, path):
                    raise
            gone = _break_if_stale(path)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path.name} has been locked for over {timeout:g} s")
            if not gone:
                time.sleep(random.uniform(0.005, 0.03))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _taken(exc: OSError, path: Path) -> bool:
    if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return True
    # SMB may answer a rename onto an existing folder with another errno (e.g. EACCES).
    return path.exists()


def _break_if_stale(path: Path) -> bool:
    """Break the lock at path if stale; True if it is gone (try again at once)."""
    try:
        entries = sorted(os.listdir(path))
    except FileNotFoundError:
        return True
    try:
        times = [os.stat(path).st_mtime, *(os.stat(path / e).st_mtime for e in entries[:1])]
    except FileNotFoundError:
        return False  # being dismantled or taken right now
    if time.time() - max(times) <= STALE_LOCK_SECONDS:
        return False
    if not entries:
        try:
            os.rmdir(path)
        except OSError:
            return False
        return True
    owner = _read_owner(path / entries[0])
    if not _dismantle(path, entries[0]):
        return False
    log.warning("broke a stale lock", extra={"lock": str(path), "owner": owner})
    return True


def _dismantle(path: Path, baton: str) -> bool:
    """Claim the lock by renaming its baton away, then remove it; False if another claimed it."""
    claimed = path / f"gone-{uuid.uuid4().hex}"
    try:
        os.rename(path / baton, claimed)
    except OSError:
        return False
    shutil.rmtree(claimed, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(path)  # fails, as it must, on a lock taken since: that one holds a baton
    return True


def _read_owner(baton: Path) -> Any:
    try:
        return json.loads((baton / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
