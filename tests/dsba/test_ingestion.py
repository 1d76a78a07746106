"""Reading datasets: formats, sniffing, encodings, fingerprints, local paths and URLs."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
from collections.abc import Iterator

import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.ingestion import parse_bytes, read_path, read_source, read_upload, resolve_data_path
from dsba.errors import Forbidden, InvalidInput, TooLarge

TABLE = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "é"], "c": [0.5, 1.5, None]})
CSV = "a,b,c\n1,x,0.5\n2,y,1.5\n3,é,\n"


def assert_table(frame: pd.DataFrame) -> None:
    """The parsed frame holds TABLE's columns and values."""
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["a"].tolist() == [1, 2, 3]
    assert frame["b"].tolist() == ["x", "y", "é"]
    assert frame["c"].iloc[:2].tolist() == [0.5, 1.5] and pd.isna(frame["c"].iloc[2])


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (CSV.encode(), "comma"),
        (CSV.replace(",", ";").encode(), "semicolon"),
        (CSV.replace(",", "\t").encode(), "tab"),
        (CSV.replace(",", "|").encode(), "pipe"),
        (b"\xef\xbb\xbf" + CSV.encode(), "utf-8 with BOM"),
        (CSV.encode("utf-16"), "utf-16 with BOM"),
        (CSV.replace("\n", "\r\n").encode(), "CRLF"),
        (CSV.replace("\n", "\r").encode(), "CR, as classic Mac OS wrote"),
    ],
)
def test_csv_dialects_and_encodings_are_sniffed(raw, name):
    frame, fmt = parse_bytes(raw, filename="data.csv")
    assert fmt == "csv"
    assert_table(frame)


def test_semicolon_file_with_decimal_commas_in_quotes_keeps_its_columns():
    frame, _ = parse_bytes(b'a;b\n"1,5";x\n"2,5";y\n', filename="data.csv")
    assert list(frame.columns) == ["a", "b"] and frame["a"].tolist() == [1.5, 2.5]


def test_parquet_and_json_lines_are_read(tmp_path):
    buffer = io.BytesIO()
    TABLE.to_parquet(buffer)
    frame, fmt = parse_bytes(buffer.getvalue(), filename="upload.bin")
    assert fmt == "parquet"
    assert_table(frame)
    jsonl = TABLE.to_json(orient="records", lines=True, force_ascii=False).encode()
    frame, fmt = parse_bytes(jsonl, filename="data.jsonl")
    assert fmt == "jsonl"
    assert_table(frame)
    frame, fmt = parse_bytes(TABLE.to_json(orient="records").encode(), filename=None)
    assert fmt == "json"
    assert_table(frame)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "file is empty"),
        (b"a,b,a\n1,2,3\n", "duplicate column names: a"),
        (b"a,,c\n1,2,3\n", "a column has an empty name"),
        (b"a,b,c\n", "file has a header but no data rows"),
        (b"a,b\n1,2\n3\n", "CSV cannot be parsed"),
        (b"a,b\n1,2\n3,4,5\n", "CSV cannot be parsed"),
        (b"caf\xe9,b\n1,2\n", "not UTF-8 text: byte 0xe9 on line 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
        (b"PAR1 not really parquet", "Parquet file cannot be read"),
        (b'{"a": 1}\n{"a": ', "JSON cannot be parsed"),
        (b"[1, 2, 3]", "JSON data must be a list of objects"),
    ],
)
def test_unreadable_data_is_a_clear_error(raw, message):
    with pytest.raises(InvalidInput, match=message):
        parse_bytes(raw, filename=None)


def test_limits_on_rows_columns_and_bytes():
    raw = ("a,b\n" + "1,2\n" * 11).encode()
    with pytest.raises(TooLarge, match="11 rows exceed the limit of 10"):
        parse_bytes(raw, settings=Settings(max_rows=10))
    with pytest.raises(TooLarge, match="3 columns exceed the limit of 1"):
        parse_bytes(b"a,b,c\n1,2,3\n", settings=Settings(max_columns=1))
    with pytest.raises(TooLarge, match="upload is larger than the limit of 10 bytes"):
        read_upload(io.BytesIO(raw), "data.csv", Settings(max_upload_bytes=10))


def test_fingerprint_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(CSV.encode())
    dataset = read_path(path)
    assert dataset.fingerprint == hashlib.sha256(CSV.encode()).hexdigest()
    assert (dataset.source, dataset.format, dataset.n_bytes) == (
        "file:data.csv",
        "csv",
        len(CSV.encode()),
    )
    same_table = read_upload(io.BytesIO(CSV.replace(",", ";").encode()), "x.csv")
    assert same_table.fingerprint != dataset.fingerprint
    assert same_table.source == "upload:x.csv"


def test_data_paths_stay_inside_the_data_folder(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.csv").write_text(CSV)
    outside = tmp_path / "secret.csv"
    outside.write_text(CSV)
    (root / "link.csv").symlink_to(outside)
    (root / "inner.csv").symlink_to(root / "sub" / "ok.csv")
    assert resolve_data_path("sub/ok.csv", root) == (root / "sub" / "ok.csv").resolve()
    assert resolve_data_path("inner.csv", root) == (root / "sub" / "ok.csv").resolve()
    assert_table(read_source("sub/ok.csv", root=root).frame)
    for path in ("../../etc/passwd", "../secret.csv", "link.csv", "/etc/passwd", str(outside)):
        with pytest.raises(Forbidden, match="outside the data folder"):
            resolve_data_path(path, root)
    with pytest.raises(InvalidInput, match="no file 'nope.csv' in the data folder"):
        resolve_data_path("nope.csv", root)
    with pytest.raises(InvalidInput, match="no file 'sub'"):
        resolve_data_path("sub", root)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serve /x.csv, redirects, and a body without Content-Length."""

    redirects: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.end_headers()
        elif self.path == "/x.csv":
            body = CSV.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/stream.csv":
            # HTTP/1.0 without Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.end_headers()
            self.wfile.write(("a,b\n" + "1,2\n" * 5000).encode())
        else:
            self.send_error(404)

    def log_message(self, *args) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Run a real HTTP server on a free loopback port; yield its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.redirects = {
        "/to-local": f"{base}/x.csv",
        "/to-localhost": base.replace("127.0.0.1", "localhost") + "/x.csv",
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-file": "file:///etc/passwd",
    }
    try:
        yield base
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def allowing(*hosts: str, **overrides: str) -> Settings:
    """Settings as read from the environment with DSBA_URL_ALLOW_HOSTS set."""
    return Settings.from_env({"DSBA_URL_ALLOW_HOSTS": ",".join(hosts), **overrides})


def test_loopback_url_is_refused_by_default(server):
    with pytest.raises(Forbidden, match="resolves to 127.0.0.1, a loopback"):
        read_source(f"{server}/x.csv", Settings.from_env({}))


def test_allowed_host_is_fetched(server):
    dataset = read_source(f"{server}/x.csv", allowing("127.0.0.1"))
    assert_table(dataset.frame)
    assert dataset.source == f"{server}/x.csv"
    assert dataset.fingerprint == hashlib.sha256(CSV.encode()).hexdigest()
    assert_table(read_source(f"{server}/to-local", allowing("127.0.0.1")).frame)


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/to-localhost", Forbidden, "'localhost' resolves to"),
        ("/to-metadata", Forbidden, "169.254.169.254, a loopback, private, link-local"),
        ("/to-file", Forbidden, "only http and https URLs can be read, not 'file'"),
        ("/missing.csv", InvalidInput, "URL answered HTTP 404"),
    ],
)
def test_redirects_are_checked_like_the_first_url(server, path, error, message):
    with pytest.raises(error, match=message):
        read_source(f"{server}{path}", allowing("127.0.0.1"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http and https URLs can be read, not 'file'"),
        ("ftp://example.com/x.csv", "not 'ftp'"),
        ("http://user:pw@example.com/x.csv", "credentials"),
        ("http://[::1]/x.csv", "loopback"),
        ("http://10.1.2.3/x.csv", "private"),
        ("http://0.0.0.0/x.csv", "0.0.0.0"),
    ],
)
def test_urls_outside_the_policy_are_refused(url, message):
    with pytest.raises(Forbidden, match=message):
        read_source(url, Settings.from_env({}))


def test_byte_cap_is_enforced_with_and_without_content_length(server):
    capped = allowing("127.0.0.1", DSBA_URL_MAX_BYTES="20")
    with pytest.raises(TooLarge, match="larger than the limit of 20 bytes"):
        read_source(f"{server}/x.csv", capped)
    with pytest.raises(TooLarge, match="larger than the limit of 1,000 bytes"):
        read_source(f"{server}/stream.csv", allowing("127.0.0.1", DSBA_URL_MAX_BYTES="1000"))
    assert len(read_source(f"{server}/stream.csv", allowing("127.0.0.1")).frame) == 5000


def test_local_file_errors(tmp_path):
    with pytest.raises(InvalidInput, match="no such file"):
        read_path(tmp_path / "missing.csv")
    big = tmp_path / "big.csv"
    big.write_text("a\n" + "1\n" * 100)
    with pytest.raises(TooLarge, match="file 'big.csv' is larger than the limit"):
        read_path(big, Settings(max_upload_bytes=50))
