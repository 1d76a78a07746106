"""Read a large stored file in bounded pieces: CSV and JSON lines by rows, Parquet by batches.

Each CSV piece is the header plus whole rows, handed to parse_bytes: the same decoding,
delimiter, null markers, codes-as-text and decimal commas as any upload, never a second
parser. A row ends at a line end outside quotes, where the quotes seen so far are even
in number (an escaped "" adds two).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dsba.data.ingestion import FORMATS, parse_bytes
from dsba.data.limits import Limits, check_parquet
from dsba.errors import InvalidInput, TooLarge

# Bytes read from the file at a time: the scan's memory stays this small.
BLOCK_BYTES = 1 << 20
# Rows per piece scored at once: memory is a few times one piece, not the file.
CHUNK_ROWS = 10_000
_QUOTE = ord('"')
_PARQUET_MAGIC = b"PAR1"


def file_format(head: bytes, filename: str | None) -> str:
    """csv, parquet or jsonl from the name given, else from the first bytes."""
    fmt = FORMATS.get(Path(filename or "").suffix.lower())
    if fmt is None:
        fmt = "parquet" if head[:4] == _PARQUET_MAGIC else "csv"
        if head.lstrip()[:1] == b"{":
            fmt = "jsonl"
    if fmt == "json":
        if head.lstrip()[:1] == b"[":
            raise InvalidInput(
                "a JSON list is read whole, so a large file cannot be scored from it: "
                "save it as JSON lines (one object per line), CSV or Parquet"
            )
        fmt = "jsonl"
    return fmt


def _line_end(head: bytes) -> int:
    return ord("\n") if b"\n" in head or b"\r" not in head else ord("\r")


def _row_ends(block: bytes, end: int, inside: int) -> tuple[np.ndarray, int]:
    """Offsets of the row ends in block and whether a quote is open after it."""
    data = np.frombuffer(block, np.uint8)
    quotes = data == _QUOTE
    # Parity of the quotes so far (a uint8 sum wraps, its lowest bit stays right).
    outside = (np.cumsum(quotes, dtype=np.uint8) & 1) == inside
    ends = np.flatnonzero((data == end) & outside)
    return ends, inside ^ (int(np.count_nonzero(quotes)) & 1)


def _csv_rows(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(header line, block of whole rows) pairs, each block about BLOCK_BYTES or one row."""
    with open(path, "rb") as handle:
        head = handle.read(BLOCK_BYTES)
        end = _line_end(head)
        ends = _row_ends(head, end, 0)[0]
        if not len(ends):  # a header alone (or a header longer than a block)
            yield head + handle.read(BLOCK_BYTES), b""
            return
        header, block, rest, inside = head[: ends[0] + 1], head[ends[0] + 1 :], b"", 0
        rows = False
        while block:
            ends, after = _row_ends(block, end, inside)
            if len(ends):
                cut = int(ends[-1]) + 1
                yield header, rest + block[:cut]
                rest, rows = block[cut:], True
            else:
                rest += block
            inside = after
            block = handle.read(BLOCK_BYTES)
        if rest.strip() or not rows:
            yield header, rest


def _rows_in(block: bytes) -> int:
    """Rows in a block of whole rows, blank lines not counted (the parser skips them)."""
    end = _line_end(block)
    ends = _row_ends(block, end, 0)[0]
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, np.int64)
    data = np.frombuffer(block, np.uint8)
    blank = (ends == starts) | ((ends - starts == 1) & (data[starts] == ord("\r")))
    tail = block[int(ends[-1]) + 1 :] if len(ends) else block
    return int(len(ends) - np.count_nonzero(blank)) + (1 if tail.strip() else 0)


def count_rows(path: Path, fmt: str) -> int:
    """Data rows in a stored file, read in blocks (Parquet: from its footer)."""
    if fmt == "parquet":
        return _parquet(path).metadata.num_rows
    if fmt == "jsonl":
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    return sum(_rows_in(block) for _, block in _csv_rows(path))


def _parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(f"Parquet file cannot be read: {str(exc).strip()[:300]}") from exc


def read_chunks(
    path: Path,
    fmt: str,
    *,
    limits: Limits,
    text_columns: Collection[str] = (),
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The file's rows, about chunk_rows (CHUNK_ROWS) at a time, each parsed as an upload is."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    # The whole file's rows were counted against limits.rows before: a piece is within them.
    piece = limits
    if fmt == "parquet":
        yield from _parquet_chunks(path, limits, chunk_rows)
        return
    if fmt == "jsonl":
        yield from _jsonl_chunks(path, piece, chunk_rows)
        return
    pending: list[bytes] = []
    rows, header, pieces = 0, b"", 0
    for header, block in _csv_rows(path):
        # Cut at the row end that completes a piece (every block starts at a row's start).
        ends = _row_ends(block, header[-1] if header else ord("\n"), 0)[0]
        while rows + len(ends) >= chunk_rows:
            need = chunk_rows - rows
            cut = int(ends[need - 1]) + 1
            yield _csv_frame(header, [*pending, block[:cut]], text_columns, piece)
            block, ends, pending, rows, pieces = block[cut:], ends[need:] - cut, [], 0, pieces + 1
        pending.append(block)
        rows += len(ends)
    # The rest; or, when nothing was read, the parser's word on why (empty, no data rows).
    if any(part.strip() for part in pending) or not pieces:
        yield _csv_frame(header, pending, text_columns, piece)


def _csv_frame(
    header: bytes, blocks: list[bytes], text_columns: Collection[str], limits: Limits
) -> pd.DataFrame:
    frame, _ = parse_bytes(
        header + b"".join(blocks), filename="part.csv", text_columns=text_columns, limits=limits
    )
    return frame


def _jsonl_chunks(path: Path, limits: Limits, chunk_rows: int) -> Iterator[pd.DataFrame]:
    lines: list[bytes] = []
    parsed = False
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                lines.append(line)
            if len(lines) >= chunk_rows:
                yield parse_bytes(b"".join(lines), filename="part.jsonl", limits=limits)[0]
                lines, parsed = [], True
    if lines or not parsed:
        yield parse_bytes(b"".join(lines), filename="part.jsonl", limits=limits)[0]


def _parquet_chunks(path: Path, limits: Limits, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # The checks of an upload: rows, columns, and what the pages and dictionaries decode to.
    check_parquet(path, limits)
    parquet = _parquet(path)
    if parquet.metadata.num_rows == 0:
        raise InvalidInput("file has a header but no data rows")
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            frame.columns = [str(c).strip() for c in frame.columns]
            yield frame
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"Parquet file cannot be read: {str(exc).strip()[:300]}") from exc


def check_rows(rows: int, limits: Limits) -> None:
    """Refuse a file with more rows than a background scoring job takes."""
    if rows > limits.rows:
        raise TooLarge(f"{rows:,} rows exceed the {limits.name} of {limits.rows:,}")
