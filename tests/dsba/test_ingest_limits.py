"""Worst-case bodies cost bounded work and memory: CSV sniffing, Parquet bombs, JSON of objects."""

from __future__ import annotations

import csv
import io
import time
import tracemalloc
from collections.abc import Iterator
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dsba.config import Settings
from dsba.data import sniff
from dsba.data.ingestion import parse_bytes
from dsba.data.limits import JSON_SLACK, Limits, check_json_containers
from dsba.errors import InvalidInput, TooLarge

# Each took csv.Sniffer 30 s to 132 s on 64 KB (issue 11).
WORST_CSV = [b',"' * 32768, b'"\n' * 32768, b'"' * 65536, b"a," + b'"' * 65536]
BATCH = Limits.batch(Settings())
UPLOAD = Limits.upload(Settings())
_ARROW_POOLS: list[pa.MemoryPool] = []


def parquet_bomb(rows: int = 20_000, chars: int = 60_000) -> bytes:
    """A few hundred bytes of zstd, dictionary-encoded Parquet: one long string on every row."""
    # Built as a dictionary, never decoded here; the file's schema says plain strings.
    column = pa.DictionaryArray.from_arrays(
        pa.array([0] * rows, pa.int32()), pa.array(["x" * chars])
    )
    buffer = io.BytesIO()
    pq.write_table(pa.table({"s": column}), buffer, compression="zstd", store_schema=False)
    return buffer.getvalue()


@pytest.fixture
def arrow_pool() -> Iterator[pa.MemoryPool]:
    """Arrow's default pool for the test, a proxy whose max_memory() is the test's peak."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    # Buffers allocated here may outlive the test and free through the proxy: keep it alive.
    _ARROW_POOLS.append(pool)
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    yield pool
    pa.set_memory_pool(previous)


@pytest.fixture
def sniffed_chars(monkeypatch) -> list[int]:
    """Characters each csv.reader of the sniffer was given; csv.Sniffer may not run at all."""
    given: list[int] = []
    reader = csv.reader

    def counting_reader(stream, **options):
        given.append(len(stream.getvalue()))
        return reader(stream, **options)

    def no_sniffer(*args, **kwargs):
        raise AssertionError("csv.Sniffer's cost grows with the square of its sample")

    monkeypatch.setattr(sniff, "csv", SimpleNamespace(reader=counting_reader, Error=csv.Error))
    monkeypatch.setattr(csv, "Sniffer", no_sniffer)
    return given


@pytest.mark.parametrize(
    "raw", WORST_CSV, ids=["comma-quote", "quote-newline", "quotes", "a-quotes"]
)
def test_sniffing_a_worst_case_csv_reads_a_bounded_sample(raw, sniffed_chars):
    started = time.monotonic()
    with pytest.raises(InvalidInput):
        parse_bytes(raw, filename="data.csv", limits=BATCH)
    # Work, not time, is the proof: one pass of the csv module per candidate over <= 16 KB.
    assert len(sniffed_chars) == len(sniff.DELIMITERS)
    assert max(sniffed_chars) <= sniff.SAMPLE_CHARS
    assert time.monotonic() - started < 5  # generous: csv.Sniffer took 30 s and more


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a;b\n1,5;x\n2,5;y\n", ";"),  # decimal commas, unquoted
        ('a;b\n"1,5";x\n"2,5";y\n', ";"),
        ("name\tnote\nx\ta, b\ny\tc, d\n", "\t"),
        ("a,b\n1,x;y\n2,z;w\n", ","),
        ("a|b|c\r1|2|3\r", "|"),
        ("only\n1\n2\n", ","),
        ("a,b\n" + "1,2\n" * 20_000, ","),  # past the sample: cut at a line end
    ],
)
def test_the_sniffer_picks_the_delimiter_that_splits_rows_alike(text, delimiter):
    assert sniff.sniff_delimiter(text) == delimiter
    assert len(sniff.sample_of(text)) <= sniff.SAMPLE_CHARS


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_csv_rows_over_the_limit_are_counted_before_the_table_is_built(
    monkeypatch, arrow_pool, end
):
    def no_parse(*args, **kwargs):
        raise AssertionError("the table was built before its rows were counted")

    monkeypatch.setattr(pd, "read_csv", no_parse)
    raw = f"a,b{end}{f'1,2{end}' * 1_000_000}".encode()
    with pytest.raises(TooLarge, match="1,000,000 rows exceed the batch limit of 10,000"):
        parse_bytes(raw, filename="data.csv", limits=BATCH)
    assert arrow_pool.max_memory() < 16 * 1024 * 1024  # counted in 1 MB blocks, not a 4 MB table


def test_line_ends_inside_quotes_are_not_rows():
    raw = ("a,b\n" + '"two\nlines",1\n' * 30).encode()  # 61 line ends, 30 rows
    frame, _ = parse_bytes(raw, filename="data.csv", limits=Limits(30, 5, 10_000))
    assert len(frame) == 30 and frame["a"].iloc[0] == "two\nlines"
    with pytest.raises(TooLarge, match="30 rows exceed the limit of 29"):
        parse_bytes(raw, filename="data.csv", limits=Limits(29, 5, 10_000))


def test_a_parquet_bomb_over_the_row_limit_is_refused_from_its_footer(monkeypatch):
    def no_read(*args, **kwargs):
        raise AssertionError("the data was read before the limits were checked")

    monkeypatch.setattr(pq.ParquetFile, "read", no_read)
    monkeypatch.setattr(pd, "read_parquet", no_read)
    with pytest.raises(TooLarge, match="20,000 rows exceed the batch limit of 10,000"):
        parse_bytes(parquet_bomb(), filename="batch.parquet", limits=BATCH)


def test_a_parquet_bomb_within_the_row_limit_is_refused_before_it_is_decoded(
    monkeypatch, arrow_pool
):
    def no_decode(*args, **kwargs):
        raise AssertionError("the table was decoded before its size was checked")

    monkeypatch.setattr(pd, "read_parquet", no_decode)
    raw = parquet_bomb()
    assert len(raw) < 2_000
    with pytest.raises(TooLarge, match="1,200,160,000 bytes once decoded") as refused:
        parse_bytes(raw, filename="data.parquet", limits=UPLOAD)
    assert "4 x 209,715,200 bytes" in refused.value.message
    # Read as dictionaries: one 60 KB string and 20,000 indices, not 1.2 GB.
    assert arrow_pool.max_memory() < 10 * 1024 * 1024


def test_compressed_parquet_pages_are_refused_from_their_uncompressed_size(monkeypatch):
    def no_read(*args, **kwargs):
        raise AssertionError("the data was read before its uncompressed size was checked")

    buffer = io.BytesIO()
    table = pa.table({"s": ["x" * 1_000] * 200})  # 200 KB in pages of plain, compressed text
    pq.write_table(table, buffer, compression="zstd", use_dictionary=False, write_statistics=False)
    assert len(buffer.getvalue()) < 10_000
    monkeypatch.setattr(pq.ParquetFile, "read", no_read)
    with pytest.raises(TooLarge, match=r"takes [\d,]+ bytes uncompressed; the limit allows 40,000"):
        parse_bytes(buffer.getvalue(), filename="data.parquet", limits=Limits(1_000, 5, 10_000))


def test_a_small_parquet_file_within_the_limits_is_still_read():
    limits = Limits(rows=20_000, columns=5, bytes=400_000_000)
    frame, fmt = parse_bytes(parquet_bomb(rows=2_000, chars=100), filename="ok.pq", limits=limits)
    assert fmt == "parquet" and frame.shape == (2_000, 1) and frame["s"].iloc[0] == "x" * 100


def test_nested_parquet_columns_are_refused_from_the_schema():
    buffer = io.BytesIO()
    pd.DataFrame({"a": [1, 2], "tags": [[1, 2], [3]]}).to_parquet(buffer)
    with pytest.raises(InvalidInput, match="'tags' holds nested values"):
        parse_bytes(buffer.getvalue(), filename="data.parquet")


def test_a_body_declared_csv_is_never_read_as_parquet():
    buffer = io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_parquet(buffer)
    with pytest.raises(InvalidInput, match="looks binary"):
        parse_bytes(buffer.getvalue(), filename="data.csv")
    frame, fmt = parse_bytes(buffer.getvalue(), filename="upload.bin")  # no name: the bytes say
    assert fmt == "parquet" and frame["a"].tolist() == [1, 2]


def test_json_with_more_objects_than_rows_is_refused_before_parsing(monkeypatch):
    def no_parse(*args, **kwargs):
        raise AssertionError("the JSON was parsed before its objects were counted")

    monkeypatch.setattr("dsba.data.ingestion.json.loads", no_parse)
    raw = b"[" + b",".join([b"{}"] * 3_300_000) + b"]"  # 9.9 MB, issue 11
    with pytest.raises(
        TooLarge,
        match=r"3,300,001 objects and arrays, more than 11,008 \(the batch limit is 10,000 rows\)",
    ):
        parse_bytes(raw, filename="data.json", limits=BATCH)


@pytest.mark.parametrize(
    ("body", "containers"),
    [
        (b'{"records": [{"note": "{[{[{[", "x": 1}, {"note": "\\"{[", "x": 2}]}', 4),
        (b'[{"a": "\\\\"}, {"a": "}{"}]', 3),
    ],
)
def test_braces_inside_strings_are_not_counted(body, containers):
    check_json_containers(body, Limits(rows=containers - JSON_SLACK, columns=0, bytes=0))
    with pytest.raises(TooLarge, match=f"holds {containers} objects"):
        check_json_containers(body, Limits(rows=containers - JSON_SLACK - 1, columns=0, bytes=0))


def test_counting_the_objects_of_millions_of_strings_takes_little_memory():
    body = b"[" + b'"",1,' * 3_000_000 + b"1]"  # 15 MB, 3 million strings
    tracemalloc.start()
    try:
        check_json_containers(body, BATCH)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # scanned in 1 MB blocks; a list per string was 40x the body


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_json_in_utf16_or_utf32_is_counted_as_decoded(encoding):
    # In UTF-16, "\u0122" is the bytes 22 01: a quote to a scan of the raw bytes.
    body = '[{"a": "\u0122"}, ' + "{}, " * 1_000 + '{"b": "\u0122"}]'
    with pytest.raises(TooLarge, match="holds 1,003 objects"):
        check_json_containers(body.encode(encoding), Limits(rows=100, columns=0, bytes=0))


@pytest.mark.parametrize("tail", [b"", b"\\"], ids=["open-string", "lone-backslash"])
def test_an_unterminated_string_is_scanned_in_linear_time(tail):
    body = b'"' + b'\\"' * 1_000_000 + tail  # every quote is escaped: the string never ends
    started = time.monotonic()
    check_json_containers(body, Limits(rows=0, columns=0, bytes=0))
    assert time.monotonic() - started < 5  # a pattern that backtracks would take hours
