"""Files of background scoring jobs in the store: the upload in, the scored CSV out.

<root>/tmp/scoring/<token>/input.<format> and scored.csv live in the store, not a worker's
disk, so the job process and whichever worker serves the download both reach them.
"""

from __future__ import annotations

import codecs
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dsba.data.chunks import file_format
from dsba.errors import InvalidInput, NotFound, TooLarge

# Kept this long after they were written, then swept when the next file is staged.
KEEP_SECONDS = 24 * 3600
COPY_BYTES = 1 << 20
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
OUTPUT = "scored.csv"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class ScoringFiles:
    """The staged uploads and scored files of scoring jobs, by an unguessable token."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "tmp" / "scoring"

    def folder_of(self, token: str) -> Path:
        """The folder of a token; NotFound for anything that is not one."""
        # The pattern keeps anything but a token (e.g. "../x") away from the filesystem.
        if not TOKEN.match(token or ""):
            raise NotFound("scored file not found")
        return self.folder / token

    def stage(self, stream: IO[bytes], filename: str, max_bytes: int) -> tuple[str, str]:
        """Copy an upload into the store in blocks; return its token and format."""
        self._sweep()
        head = stream.read(COPY_BYTES)
        fmt = file_format(head, filename)
        token = secrets.token_urlsafe(24)
        folder = self.folder_of(token)
        folder.mkdir(parents=True)
        blocks = _utf8(head, stream) if head.startswith(_UTF16_BOMS) else _blocks(head, stream)
        written = 0
        try:
            with open(folder / f"input.{fmt}", "wb") as handle:
                for block in blocks:
                    written += len(block)
                    if written > max_bytes:
                        raise TooLarge(f"the file is larger than the limit of {max_bytes:,} bytes")
                    handle.write(block)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return token, fmt

    def input_path(self, token: str, fmt: str) -> Path:
        """Where a staged upload is."""
        return self.folder_of(token) / f"input.{fmt}"

    def output_path(self, token: str) -> Path:
        """Where the scored CSV of a token is written."""
        return self.folder_of(token) / OUTPUT

    def scored(self, token: str) -> Path:
        """The scored CSV of a finished job; NotFound once swept."""
        path = self.output_path(token)
        if not path.is_file():
            raise NotFound("scored file not found: it may have expired (they are kept a day)")
        return path

    def drop_input(self, token: str, fmt: str) -> None:
        """Delete a staged upload once it is scored (or cannot be)."""
        self.input_path(token, fmt).unlink(missing_ok=True)

    def _sweep(self) -> None:
        try:
            folders = list(self.folder.iterdir())
        except FileNotFoundError:
            return
        for folder in folders:
            try:
                old = time.time() - folder.stat().st_mtime > KEEP_SECONDS
            except FileNotFoundError:  # another worker swept it meanwhile
                continue
            if old:
                shutil.rmtree(folder, ignore_errors=True)


def _blocks(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    block = head
    while block:
        yield block
        block = stream.read(COPY_BYTES)


def _utf8(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    """A UTF-16 file as UTF-8, so that it can be cut into rows byte-wise."""
    decoder = codecs.getincrementaldecoder("utf-16")(errors="strict")
    for block in _blocks(head, stream):
        try:
            yield decoder.decode(block).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_utf16(exc) from exc
    try:
        yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf16(exc) from exc


def _not_utf16(exc: UnicodeDecodeError) -> InvalidInput:
    return InvalidInput(f"file claims UTF-16 but is not: {exc.reason}")
