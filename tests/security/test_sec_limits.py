"""Caps (upload bytes, rows, columns, categories, batch rows) and the login rate limit, on a
gunicorn started with small limits so the tests stay small."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from security_helpers import bearer, csrf_token, http, signed_in

MAX_UPLOAD = 100_000
LOGINS_PER_MINUTE = 3
WORKERS = 2


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory, run_gunicorn, tokens, trained_registry) -> Iterator[object]:
    """gunicorn with auth on, penguins:1, and small caps everywhere."""
    workdir = tmp_path_factory.mktemp("tight")
    shutil.copytree(trained_registry, workdir / "registry")
    with run_gunicorn(
        workdir,
        DSBA_REGISTRY_DIR=str(workdir / "registry"),
        DSBA_API_TOKENS=tokens.env,
        DSBA_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        DSBA_MAX_ROWS="200",
        DSBA_MAX_COLUMNS="20",
        DSBA_MAX_CATEGORIES="50",
        DSBA_MAX_BATCH_ROWS="5",
        DSBA_LOGIN_ATTEMPTS_PER_MINUTE=str(LOGINS_PER_MINUTE),
        WEB_CONCURRENCY=str(WORKERS),
    ) as server:
        yield server


def csv_of(rows: int, columns: int = 2, pad: int = 0) -> bytes:
    """A valid CSV: columns numeric features (padded to make it bigger) and a binary target."""
    header = ",".join([f"f{c}" for c in range(columns)] + ["target"])
    lines = [header] + [
        ",".join([str(r * (c + 1) % 97).rjust(pad, "0") for c in range(columns)] + ["ab"[r % 2]])
        for r in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def upload(server, token: str, name: str, data: bytes):
    """POST /api/datasets with one file."""
    return http().post(
        f"{server.url}/api/datasets",
        files={"file": (name, data, "text/csv")},
        headers=bearer(token),
        timeout=60,
    )


def test_upload_over_the_byte_cap_is_a_413_with_the_limit(tight_server, tokens):
    data = csv_of(180, columns=10, pad=60)
    assert MAX_UPLOAD < len(data) < 2 * MAX_UPLOAD
    response = upload(tight_server, tokens.writer, "big.csv", data)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["message"] == "upload is larger than the limit of 100,000 bytes"


def test_request_body_far_over_the_cap_is_a_413_before_it_is_read(tight_server, tokens):
    data = b"f0,target\n" + b"1,a\n" * 400_000  # 1.6 MB: over the cap plus multipart room
    response = upload(tight_server, tokens.writer, "huge.csv", data)
    assert response.status_code == 413
    assert response.json()["message"] == "the upload is larger than this server accepts"


def test_rows_over_the_cap_are_refused_with_the_limit(tight_server, tokens):
    response = upload(tight_server, tokens.writer, "rows.csv", csv_of(300))
    assert response.status_code == 413
    assert response.json()["message"] == "300 rows exceed the limit of 200"


def test_columns_over_the_cap_are_refused_with_the_limit(tight_server, tokens):
    response = upload(tight_server, tokens.writer, "wide.csv", csv_of(50, columns=30))
    assert response.status_code == 413
    assert response.json()["message"] == "31 columns exceed the limit of 20"


def test_a_column_over_the_category_cap_is_not_used_and_says_why(tight_server, tokens):
    rows = ["city,target"] + [f"c{i % 60},{'ab'[i % 2]}" for i in range(180)]
    stored = upload(tight_server, tokens.writer, "cats.csv", ("\n".join(rows) + "\n").encode())
    assert stored.status_code == 201, stored.text
    body = {"dataset_id": stored.json()["id"], "target": "target", "name": "cats"}
    started = http().post(
        f"{tight_server.url}/api/train", json=body, headers=bearer(tokens.writer), timeout=30
    )
    # Refused before any job starts: the only feature would be dropped.
    assert started.status_code == 400, started.text
    assert "city: too many categories: 60 distinct values (limit 50)" in started.json()["message"]
    assert not (tight_server.registry_dir / "models" / "cats").exists()


def test_batch_over_the_row_cap_is_refused_with_the_limit(tight_server, tokens):
    record = {"island": "Biscoe", "bill_length_mm": 45.0, "sex": "male"}
    response = http().post(
        f"{tight_server.url}/api/predict",
        json={"model": "penguins", "records": [record] * 6},
        headers=bearer(tokens.reader),
        timeout=30,
    )
    assert response.status_code == 413
    assert "6" in response.json()["message"] and "5" in response.json()["message"]


def test_upload_page_over_the_byte_cap_shows_the_limit(tight_server, tokens):
    session = signed_in(tight_server.url, "wanda", tokens.writer)
    page = session.get(f"{tight_server.url}/train", timeout=10)
    response = session.post(
        f"{tight_server.url}/train",
        data={"csrf_token": csrf_token(page.text)},
        files={"file": ("big.csv", csv_of(180, columns=10, pad=60), "text/csv")},
        timeout=30,
    )
    assert response.status_code in (400, 413)
    assert "text/html" in response.headers["Content-Type"]
    assert "too large" in response.text


def test_login_attempts_are_rate_limited_per_worker(tight_server, tokens):
    statuses = []
    # Stop once 12 refusals came in a row (both workers' windows full, but for a 1 in 2,000
    # chance), not after a fixed count: on a loaded machine 48 attempts outlasted the
    # one-minute window, the first failures expired, and the right token got in.
    while len(statuses) < 8 * LOGINS_PER_MINUTE * WORKERS and statuses[-12:] != [429] * 12:
        # A new connection each time, so both workers (each with its own window) see attempts.
        session = http()
        page = session.get(f"{tight_server.url}/login", timeout=10)
        response = session.post(
            f"{tight_server.url}/login",
            data={"csrf_token": csrf_token(page.text), "name": "wanda", "token": "guess"},
            headers={"Connection": "close"},
            allow_redirects=False,
            timeout=10,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "too many login attempts" in response.text
            assert "text/html" in response.headers["Content-Type"]
    assert set(statuses) == {401, 429}
    assert statuses.count(401) <= LOGINS_PER_MINUTE * WORKERS
    # While a worker's window is full it refuses the right token too.
    session = http()
    page = session.get(f"{tight_server.url}/login", timeout=10)
    data = {"csrf_token": csrf_token(page.text), "name": "wanda", "token": tokens.writer}
    right = [
        session.post(
            f"{tight_server.url}/login",
            data=data,
            headers={"Connection": "close"},
            allow_redirects=False,
            timeout=10,
        ).status_code
        for _ in range(20)
    ]
    assert 429 in right
