"""Worst-case CSV, Parquet and JSON bodies (issue 11) cost a real gunicorn worker little time
and memory, on every path that parses a table: scoring, uploads and the page's batch file.

Memory is the worker's peak RSS during one request (VmHWM, reset before it); time is bounded
generously (the loaded test machine), the work itself is bounded in tests/dsba/test_ingest_limits.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from security_helpers import RECORD, bearer, csrf_token, http, signed_in

# Before the fix: the CSV bodies held the worker 30 s to over 120 s, the Parquet body grew it
# by 2.1 to 3.5 GB, the JSON body by 300 MB, 16 MB of short CSV rows by 260 MB.
PEAK_GROWTH_MB = 64
ANSWER_SECONDS = 5.0
WORST_CSV = [b',"' * 32768, b'"\n' * 32768]
CSV_IDS = ["comma-quote", "quote-newline"]
MANY_OBJECTS = b"[" + b",".join([b"{}"] * 3_300_000) + b"]"  # 9.9 MB


def parquet_bomb() -> bytes:
    """A few hundred bytes, as in the issue: 20,000 rows of one 60,000-character string."""
    column = pa.DictionaryArray.from_arrays(
        pa.array([0] * 20_000, pa.int32()), pa.array(["x" * 60_000])
    )
    buffer = io.BytesIO()
    pq.write_table(pa.table({"s": column}), buffer, compression="zstd", store_schema=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory, run_gunicorn, tokens, trained_registry) -> Iterator[object]:
    """One worker (so its memory is the one measured), auth on, penguins:1, default limits."""
    workdir = tmp_path_factory.mktemp("worst")
    shutil.copytree(trained_registry, workdir / "registry")
    with run_gunicorn(
        workdir,
        DSBA_REGISTRY_DIR=str(workdir / "registry"),
        DSBA_API_TOKENS=tokens.env,
        WEB_CONCURRENCY="1",
    ) as running:
        _warm_up(running, tokens)
        yield running


def _warm_up(server, tokens) -> None:
    """Score and upload small valid tables once, so imports and the model are loaded."""
    csv = pd.DataFrame([RECORD]).to_csv(index=False).encode()
    scored = http().post(
        f"{server.url}/api/models/penguins/invocations",
        data=csv,
        headers={"Content-Type": "text/csv", **bearer(tokens.reader)},
        timeout=60,
    )
    assert scored.status_code == 200, scored.text
    buffer = io.BytesIO()
    pd.DataFrame([RECORD] * 3).to_parquet(buffer, compression="zstd")
    stored = upload(server, tokens.writer, "small.parquet", buffer.getvalue())
    assert stored.status_code == 201, stored.text


def upload(server, token: str, name: str, data: bytes):
    """POST /api/datasets with one file."""
    return http().post(
        f"{server.url}/api/datasets",
        files={"file": (name, data, "application/octet-stream")},
        headers=bearer(token),
        timeout=60,
    )


def measured(server, send: Callable[[], object]) -> tuple[object, float, float]:
    """Send one request; return its response, seconds and the worker's peak RSS growth (MB)."""
    (worker,) = server.workers()
    status = Path(f"/proc/{worker.pid}/status")
    Path(f"/proc/{worker.pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
    before = worker.memory_info().rss
    started = time.monotonic()
    response = send()
    seconds = time.monotonic() - started
    peak_kb = next(
        int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM")
    )
    assert server.workers() == [worker], "the worker died or was replaced"
    return response, seconds, (peak_kb * 1024 - before) / 2**20


def invoke(server, token: str, ref: str, body: bytes, content_type: str):
    """POST a body to a model's /invocations."""
    return http().post(
        f"{server.url}/api/models/{ref}/invocations",
        data=body,
        headers={"Content-Type": content_type, **bearer(token)},
        timeout=60,
    )


@pytest.mark.parametrize("body", WORST_CSV, ids=CSV_IDS)
def test_a_worst_case_csv_to_score_is_answered_at_once(server, tokens, body):
    response, seconds, growth = measured(
        server, lambda: invoke(server, tokens.reader, "penguins", body, "text/csv")
    )
    # A bad header (400) or, for 32,768 quoted line ends, too many rows for a batch (413).
    assert response.status_code in (400, 413), response.text
    assert seconds < ANSWER_SECONDS and growth < PEAK_GROWTH_MB


@pytest.mark.parametrize("body", WORST_CSV, ids=CSV_IDS)
def test_a_worst_case_csv_upload_is_answered_at_once(server, tokens, body):
    response, seconds, growth = measured(
        server, lambda: upload(server, tokens.writer, "worst.csv", body)
    )
    assert response.status_code == 400, response.text
    assert seconds < ANSWER_SECONDS and growth < PEAK_GROWTH_MB


def test_a_csv_of_millions_of_short_rows_is_refused_before_it_is_parsed(server, tokens):
    body = b"a,b\n" + b"1,2\n" * 4_000_000  # 16 MB, within the byte limit; was +262 MB
    response, seconds, growth = measured(
        server, lambda: invoke(server, tokens.reader, "penguins", body, "text/csv")
    )
    assert response.status_code == 413, response.text
    assert response.json()["message"] == "4,000,000 rows exceed the batch limit of 10,000"
    # The 16 MB body itself is read and copied a few times (about 60 MB measured).
    assert seconds < ANSWER_SECONDS and growth < 2 * PEAK_GROWTH_MB


def test_an_unknown_model_is_a_404_before_the_body_is_parsed(server, tokens):
    # Parsed, this body would be a 400 (duplicate column names).
    response = invoke(server, tokens.reader, "doesnotexist", b"a,a\n1,2\n", "text/csv")
    assert response.status_code == 404, response.text


def test_parquet_declared_as_csv_is_read_as_csv(server, tokens):
    response, _, growth = measured(
        server, lambda: invoke(server, tokens.reader, "penguins", parquet_bomb(), "text/csv")
    )
    assert response.status_code == 400, response.text
    assert "looks binary" in response.json()["message"]
    assert growth < PEAK_GROWTH_MB


def test_a_parquet_bomb_upload_is_refused_before_it_is_decoded(server, tokens):
    response, seconds, growth = measured(
        server, lambda: upload(server, tokens.writer, "bomb.parquet", parquet_bomb())
    )
    assert response.status_code == 413, response.text
    assert "1,200,160,000 bytes once decoded" in response.json()["message"]
    assert seconds < ANSWER_SECONDS and growth < PEAK_GROWTH_MB


def test_a_parquet_bomb_to_score_on_the_page_is_refused_from_its_footer(server, tokens):
    session = signed_in(server.url, "wanda", tokens.writer)
    page = session.get(f"{server.url}/models/penguins/predict", timeout=10)
    form = {"csrf_token": csrf_token(page.text)}
    response, _, growth = measured(
        server,
        lambda: session.post(
            f"{server.url}/models/penguins/predict/batch",
            data=form,
            files={"file": ("bomb.parquet", parquet_bomb(), "application/octet-stream")},
            timeout=60,
        ),
    )
    assert response.status_code == 200
    # Over a request's rows it would go to a background job, whose checks refuse it first.
    assert "1,200,160,000 bytes once decoded; the upload limit allows" in response.text
    assert growth < PEAK_GROWTH_MB


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/predict", b'{"model": "penguins", "records": ' + MANY_OBJECTS + b"}"),
        ("/api/models/penguins/invocations", b'{"dataframe_records": ' + MANY_OBJECTS + b"}"),
    ],
    ids=["predict", "invocations"],
)
def test_json_of_millions_of_objects_is_refused_before_parsing(server, tokens, path, body):
    response, seconds, growth = measured(
        server,
        lambda: http().post(
            f"{server.url}{path}",
            data=body,
            headers={"Content-Type": "application/json", **bearer(tokens.reader)},
            timeout=60,
        ),
    )
    assert response.status_code == 413, response.text
    assert "3,300,002 objects and arrays" in response.json()["message"]
    assert seconds < ANSWER_SECONDS and growth < PEAK_GROWTH_MB


def test_feedback_of_millions_of_objects_is_refused_before_parsing(server, tokens):
    body = b'{"feedback": ' + b"[" + b",".join([b"{}"] * 1_300_000) + b"]}"  # 3.9 MB
    response, seconds, growth = measured(
        server,
        lambda: http().post(
            f"{server.url}/api/feedback",
            data=body,
            headers={"Content-Type": "application/json", **bearer(tokens.writer)},
            timeout=60,
        ),
    )
    assert response.status_code == 413, response.text
    assert "1,300,002 objects and arrays" in response.json()["message"]
    assert seconds < ANSWER_SECONDS and growth < PEAK_GROWTH_MB


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_feedback_body_over_its_limit_is_a_413_with_the_limit(server, tokens, chunked):
    parts = [b'{"feedback": [', b" " * (4 * 2**20), b"]}"]
    response = http().post(
        f"{server.url}/api/feedback",
        data=iter(parts) if chunked else b"".join(parts),
        headers={"Content-Type": "application/json", **bearer(tokens.writer)},
        timeout=60,
    )
    assert response.status_code == 413
    assert (
        response.json()["message"] == "the request body is larger than the limit of 4,194,304 bytes"
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_scoring_body_over_its_own_limit_is_a_413_with_the_limit(server, tokens, chunked):
    parts = [b'{"model": "penguins", "records": [', b" " * (16 * 2**20), b"]}"]
    response = http().post(
        f"{server.url}/api/predict",
        data=iter(parts) if chunked else b"".join(parts),  # an iterator is sent chunked
        headers={"Content-Type": "application/json", **bearer(tokens.reader)},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["message"] == (
        "the request body is larger than the limit of 16,777,216 bytes"
    )
