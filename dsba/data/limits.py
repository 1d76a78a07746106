"""Size limits checked before a body is parsed, so the work and memory it costs stay bounded.

A few bytes can describe a huge table: a 541-byte Parquet file (one dictionary-encoded
60,000-character string, repeated on 20,000 rows) decodes to 1.2 GB, a 10 MB JSON list of
empty objects becomes 3.3 million Python dicts (250 MB), and 16 MB of "1,2" lines become a
260 MB frame of 4 million rows. Each is refused here from what is cheap to learn first:
Parquet's footer and its dictionaries, the number of JSON objects and arrays, CSV rows
counted in a stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dsba.config import Settings
from dsba.data.sniff import SAMPLE_CHARS, sniff_delimiter
from dsba.errors import InvalidInput, TooLarge

# A decoded table may take this many times its byte limit: a CSV spends as little as two
# bytes ("1,") on a number that takes eight once parsed, so a table the byte limit allows
# as CSV may be four times as large in memory.
DECODED_PER_LIMIT_BYTE = 4
# Beyond one object per row (or one array per column): the wrapper object, its lists.
JSON_SLACK = 8
# Bytes of JSON scanned at a time when counting objects: the scan's memory stays this small.
_SCAN_BYTES = 1 << 20
_QUOTE, _BRACE, _BRACKET = b'"{['
_TEXT_KINDS = (
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_binary,
    pa.types.is_large_binary,
)


@dataclass(frozen=True)
class Limits:
    """The largest table one request may hold: rows, columns and bytes."""

    rows: int
    columns: int
    bytes: int
    name: str = "limit"

    @classmethod
    def upload(cls, settings: Settings) -> Limits:
        """Limits of a dataset (upload, local file, URL)."""
        return cls(settings.max_rows, settings.max_columns, settings.max_upload_bytes)

    @classmethod
    def batch(cls, settings: Settings) -> Limits:
        """Limits of a batch to score."""
        return cls(
            settings.max_batch_rows,
            settings.max_columns,
            settings.max_predict_bytes,
            "batch limit",
        )

    @property
    def decoded_bytes(self) -> int:
        """Memory a parsed table may take."""
        return self.bytes * DECODED_PER_LIMIT_BYTE

    def check_shape(self, rows: int, columns: int) -> None:
        """Refuse more rows or columns than allowed (one column more: the target)."""
        if rows > self.rows:
            raise TooLarge(f"{rows:,} rows exceed the {self.name} of {self.rows:,}")
        if columns > self.columns + 1:
            raise TooLarge(f"{columns:,} columns exceed the limit of {self.columns:,}")

    def check_decoded(self, size: int, what: str) -> None:
        """Refuse a table that would take more than decoded_bytes; what names size."""
        if size > self.decoded_bytes:
            raise TooLarge(
                f"{what.format(size=size)}; the {self.name} allows {self.decoded_bytes:,} "
                f"({DECODED_PER_LIMIT_BYTE} x {self.bytes:,} bytes)"
            )


def check_json_containers(raw: bytes, limits: Limits) -> None:
    """Refuse JSON with more objects and arrays than rows and columns can need, unparsed."""
    encoding = json.detect_encoding(raw)
    if not encoding.startswith("utf-8"):
        # In UTF-16 a quote's byte can be half of another character: count in UTF-8.
        raw = raw.decode(encoding, errors="replace").encode()
    allowed = limits.rows + limits.columns + JSON_SLACK
    # Every { and [ in the body bounds those outside strings: most bodies end the check here.
    if raw.count(b"{") + raw.count(b"[") <= allowed:
        return
    count = _containers(raw)
    if count > allowed:
        raise TooLarge(
            f"the JSON holds {count:,} objects and arrays, more than {allowed:,} "
            f"(the {limits.name} is {limits.rows:,} rows)"
        )


def _containers(raw: bytes) -> int:
    """Count the { and [ of JSON outside its strings, in linear time and bounded memory."""
    # Escapes pair from the left, as bytes.replace does: what is left cannot hide a quote.
    # (A regular expression replacing each string kept a list entry per string: 40x the body.)
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    count, inside = 0, 0
    for start in range(0, len(text), _SCAN_BYTES):
        chunk = np.frombuffer(text, np.uint8, min(_SCAN_BYTES, len(text) - start), start)
        quotes = chunk == _QUOTE
        # Parity of the quotes so far (a uint8 sum wraps, its lowest bit stays right).
        outside = (np.cumsum(quotes, dtype=np.uint8) & 1) == inside
        count += int(np.count_nonzero(((chunk == _BRACE) | (chunk == _BRACKET)) & outside))
        inside ^= int(np.count_nonzero(quotes)) & 1
    return count


def _value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _is_text(kind: pa.DataType) -> bool:
    return any(is_kind(_value_type(kind)) for is_kind in _TEXT_KINDS)


def _width(kind: pa.DataType) -> int:
    """Bytes a value of a fixed-width type takes (a bit counts as a byte, to be safe)."""
    try:
        return max(_value_type(kind).bit_width // 8, 1)
    except ValueError:  # no fixed width (null, a view type): count it as a number
        return 8


def _text_bytes(column: pa.ChunkedArray) -> int:
    """Bytes of a text column once every dictionary entry is written out on its rows."""
    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            lengths = pc.binary_length(chunk.dictionary)
            total += pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
        else:
            total += pc.sum(pc.binary_length(chunk)).as_py() or 0
    return total + 8 * len(column)  # an offset per row


def check_parquet(raw: bytes | Path, limits: Limits) -> None:
    """Refuse Parquet (bytes or a path) that breaks the limits, reading its data only if needed."""
    source = pa.BufferReader(raw) if isinstance(raw, bytes) else raw
    try:
        parquet = pq.ParquetFile(source)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(f"Parquet file cannot be read: {str(exc).strip()[:300]}") from exc
    metadata = parquet.metadata
    rows = metadata.num_rows
    limits.check_shape(rows, len(schema))
    # Compressed pages can hide gigabytes: the footer says how much they hold uncompressed.
    stored = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    limits.check_decoded(stored, "the Parquet data takes {size:,} bytes uncompressed")
    text, size = [], 0
    for field in schema:
        if _is_text(field.type):
            text.append(field.name)
        elif pa.types.is_nested(field.type):
            raise InvalidInput(
                f"column {field.name!r} holds nested values (lists or structs); "
                "flatten it into plain columns",
                {"column": field.name},
            )
        else:
            size += rows * _width(field.type)
    if text and size <= limits.decoded_bytes:
        # Read as dictionaries, text costs what the file stores, not what it decodes to.
        try:
            reread = pa.BufferReader(raw) if isinstance(raw, bytes) else raw
            encoded = pq.ParquetFile(reread, read_dictionary=text)
            table = encoded.read(columns=text, use_pandas_metadata=False)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InvalidInput(f"Parquet file cannot be read: {str(exc).strip()[:300]}") from exc
        size += sum(_text_bytes(column) for column in table.columns)
    limits.check_decoded(size, "the Parquet table takes {size:,} bytes once decoded")


def check_csv_rows(raw: bytes, limits: Limits) -> None:
    """Refuse CSV with more rows than allowed, counted in 1 MB blocks before it is parsed."""
    # Every row ends a line: with no more line ends than the limit, no count is needed.
    if raw.count(b"\n") + raw.count(b"\r") <= limits.rows + 1:
        return
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raw = raw.decode("utf-16", errors="replace").encode()
    delimiter = sniff_delimiter(raw[: SAMPLE_CHARS * 4].decode("utf-8", errors="replace"))
    try:
        # Only the first column, as text: no type to infer, nothing kept but the count.
        batches = pacsv.open_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(
                skip_rows=1, autogenerate_column_names=True, block_size=1 << 20
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=["f0"], column_types={"f0": pa.string()}
            ),
        )
        rows = sum(batch.num_rows for batch in batches)
    except (pa.ArrowException, ValueError):
        return  # malformed: the parser that follows says where
    limits.check_shape(rows, 0)
