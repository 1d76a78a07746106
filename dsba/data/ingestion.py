"""Read a dataset (CSV, Parquet, JSON lines) from a path, a URL or an uploaded file object."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa

from dsba.config import Settings
from dsba.data.csvtypes import read_csv
from dsba.data.limits import Limits, check_csv_rows, check_json_containers, check_parquet
from dsba.data.sniff import sniff_delimiter, spreadsheet_kind
from dsba.data.urlfetch import fetch_url
from dsba.errors import Forbidden, InvalidInput, TooLarge
from dsba.store.atomic import sha256_bytes

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_SNIFF_BYTES = 64 * 1024
_PARQUET_MAGIC = b"PAR1"
# A table cell is a number, a label or a short text; a megabyte in one cell is not data.
MAX_FIELD_CHARS = 65_536


@dataclass(frozen=True)
class Dataset:
    """A parsed table with the sha256 of the bytes it came from."""

    frame: pd.DataFrame
    fingerprint: str
    source: str
    format: str
    n_bytes: int


def _read_capped(handle: IO[bytes], limit: int, what: str) -> bytes:
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{what} is larger than the limit of {limit:,} bytes")
    return data


def _detect_format(raw: bytes, filename: str | None) -> str:
    # A name declaring CSV wins over the bytes: such a body is never read as Parquet, whose
    # small files can decode to gigabytes. Any other name is only a hint: the content
    # decides, so CSV saved as "export.dat" or "data.json" is still read as CSV.
    named = FORMATS.get(Path(filename or "").suffix.lower())
    if named == "csv":
        return "csv"
    head = raw.lstrip()[:1]
    if raw[:4] == _PARQUET_MAGIC:
        return "parquet" if named in (None, "parquet") else named
    if head in (b"{", b"["):
        return named if named in ("json", "jsonl") else "json"
    return "csv"


def _decode_text(raw: bytes) -> str:
    """Return the text of a UTF-8 (or BOM-marked UTF-16) file, or say where it is not."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"file claims UTF-16 but is not: {exc.reason}") from exc
    if b"\x00" in raw[:8192]:
        raise InvalidInput("file looks binary (it contains NUL bytes), not CSV text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"file is not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} "
            "cannot be decoded; save the file as UTF-8 and upload it again",
            {"line": line},
        ) from exc


def _refuse_spreadsheet(raw: bytes, filename: str | None) -> None:
    """Say that a workbook must be saved as CSV, rather than that its bytes look binary."""
    kind = spreadsheet_kind(raw, Path(filename or "").suffix.lower())
    if kind:
        raise InvalidInput(
            f"the file is {kind}, not a data table this service reads: save it as CSV "
            "(in Excel: File > Save As > CSV UTF-8) and use that file",
            {"format": "spreadsheet"},
        )


def _check_header(header: list[str]) -> None:
    seen: set[str] = set()
    duplicates = sorted({name for name in header if name in seen or seen.add(name)})
    if duplicates:
        raise InvalidInput(
            f"duplicate column names: {', '.join(duplicates)}", {"columns": duplicates}
        )
    if any(name.strip() == "" for name in header):
        raise InvalidInput("a column has an empty name in the header row")


def _parse_csv(raw: bytes, text_columns: Collection[str] = ()) -> pd.DataFrame:
    text = _decode_text(raw)
    if not text.strip():
        raise InvalidInput("file is empty")
    delimiter = sniff_delimiter(text)
    # newline="": the csv module reads a lone carriage return as a line end only this way.
    rows = csv.reader(io.StringIO(text[:_SNIFF_BYTES], newline=""), delimiter=delimiter)
    try:
        header = next(rows, [])
    except csv.Error as exc:
        raise InvalidInput(f"CSV cannot be parsed: the header row: {exc}") from exc
    _check_header([name.strip() for name in header])
    try:
        return read_csv(text.encode("utf-8"), delimiter, text_columns)
    except (pa.ArrowInvalid, ValueError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"CSV cannot be parsed: {_first_line(exc)}") from exc


def _parse_parquet(raw: bytes) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(raw))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(f"Parquet file cannot be read: {_first_line(exc)}") from exc


def _parse_json(raw: bytes, lines: bool) -> pd.DataFrame:
    text = _decode_text(raw)
    if not text.strip():
        raise InvalidInput("file is empty")
    try:
        records = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if lines
            else json.loads(text)
        )
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"JSON cannot be parsed: {_first_line(exc)}") from exc
    if isinstance(records, dict) and isinstance(records.get("records"), list):
        records = records["records"]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInput("JSON data must be a list of objects (one object per row)")
    return pd.DataFrame.from_records(records)


def _check_field_lengths(frame: pd.DataFrame) -> None:
    """Refuse a cell longer than MAX_FIELD_CHARS, naming its column and row."""
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        if pd.api.types.is_object_dtype(series):
            lengths = series.map(lambda value: len(value) if isinstance(value, str) else 0)
        elif pd.api.types.is_string_dtype(series):
            lengths = series.str.len().fillna(0)
        else:
            continue
        longest = int(lengths.max()) if len(lengths) else 0
        if longest > MAX_FIELD_CHARS:
            row = int(lengths.to_numpy().argmax()) + 1
            raise TooLarge(
                f"a value in column {column!r} (row {row}) is {longest:,} characters long; "
                f"the limit is {MAX_FIELD_CHARS:,}",
                {"column": str(column), "row": row},
            )


def _check_flat(frame: pd.DataFrame) -> None:
    """Refuse objects and arrays as cell values, naming the column and the first such row."""
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        if not pd.api.types.is_object_dtype(series):
            continue
        nested = series.map(lambda value: isinstance(value, dict | list | np.ndarray))
        if nested.any():
            row = int(nested.to_numpy().argmax()) + 1
            raise InvalidInput(
                f"column {column!r} holds nested values (objects or lists), first on row {row}; "
                "flatten it into plain columns",
                {"column": str(column), "row": row},
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def parse_bytes(
    raw: bytes,
    *,
    filename: str | None = None,
    settings: Settings | None = None,
    text_columns: Collection[str] = (),
    limits: Limits | None = None,
) -> tuple[pd.DataFrame, str]:
    """Parse raw bytes within limits (a dataset's by default), text_columns of a CSV as text."""
    limits = limits or Limits.upload(settings or Settings())
    if not raw.strip():
        raise InvalidInput("file is empty")
    _refuse_spreadsheet(raw, filename)
    fmt = _detect_format(raw, filename)
    if fmt == "parquet":
        check_parquet(raw, limits)
        frame = _parse_parquet(raw)
    elif fmt in ("json", "jsonl"):
        check_json_containers(raw, limits)
        frame = _parse_json(raw, lines=fmt == "jsonl" or raw.lstrip()[:1] == b"{")
    else:
        check_csv_rows(raw, limits)
        frame = _parse_csv(raw, text_columns)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] == 0:
        raise InvalidInput("file has no columns")
    if len(frame) == 0:
        raise InvalidInput("file has a header but no data rows")
    limits.check_shape(*frame.shape)
    _check_flat(frame)
    if len(raw) > MAX_FIELD_CHARS:
        _check_field_lengths(frame)
    return frame, fmt


def read_bytes(
    raw: bytes,
    *,
    source: str,
    filename: str | None = None,
    settings: Settings | None = None,
    text_columns: Collection[str] = (),
) -> Dataset:
    """Parse raw bytes into a Dataset carrying their fingerprint."""
    frame, fmt = parse_bytes(raw, filename=filename, settings=settings, text_columns=text_columns)
    return Dataset(frame, sha256_bytes(raw), source, fmt, len(raw))


def read_upload(
    handle: IO[bytes], filename: str | None, settings: Settings | None = None
) -> Dataset:
    """Read an uploaded file object, capped at the upload limit."""
    settings = settings or Settings()
    raw = _read_capped(handle, settings.max_upload_bytes, "upload")
    return read_bytes(
        raw, source=f"upload:{Path(filename or 'data').name}", filename=filename, settings=settings
    )


def _check_path_text(path: str) -> None:
    """Refuse what no file system path can hold: NUL bytes and unpaired surrogates."""
    if "\x00" in path:
        raise InvalidInput("a path cannot contain a NUL byte", {"path": path.replace("\x00", "")})
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("a path must be valid Unicode text", {"path": "invalid"}) from exc


def resolve_data_path(path: str | Path, root: Path) -> Path:
    """Return path resolved inside root, refusing traversal and symlinks out of it."""
    _check_path_text(str(path))
    root = root.resolve()
    candidate = Path(path)
    full = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not full.is_relative_to(root):
        raise Forbidden(
            f"path {str(path)!r} is outside the data folder; only files under it can be read",
            {"path": str(path)},
        )
    if not full.is_file():
        raise InvalidInput(f"no file {str(path)!r} in the data folder", {"path": str(path)})
    return full


def read_path(
    path: str | Path,
    settings: Settings | None = None,
    *,
    root: Path | None = None,
    text_columns: Collection[str] = (),
) -> Dataset:
    """Read a local file; with root, only a file inside that folder."""
    settings = settings or Settings()
    _check_path_text(str(path))
    target = resolve_data_path(path, root) if root is not None else Path(path)
    if not target.is_file():
        raise InvalidInput(f"no such file: {str(path)!r}", {"path": str(path)})
    with open(target, "rb") as handle:
        raw = _read_capped(handle, settings.max_upload_bytes, f"file {target.name!r}")
    return read_bytes(
        raw,
        source=f"file:{target.name}",
        filename=target.name,
        settings=settings,
        text_columns=text_columns,
    )


def read_url(
    url: str, settings: Settings | None = None, *, text_columns: Collection[str] = ()
) -> Dataset:
    """Download a dataset over http(s) under the URL policy, then parse it."""
    settings = settings or Settings()
    raw, filename = fetch_url(url, settings)
    return read_bytes(
        raw, source=url, filename=filename, settings=settings, text_columns=text_columns
    )


def read_source(
    source: str,
    settings: Settings | None = None,
    *,
    root: Path | None = None,
    text_columns: Collection[str] = (),
) -> Dataset:
    """Read from a URL (http/https) or a local path (text_columns of a CSV as text)."""
    if "://" in source:
        return read_url(source, settings, text_columns=text_columns)
    return read_path(source, settings, root=root, text_columns=text_columns)
