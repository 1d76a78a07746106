"""JSON access logs on stdout from the real gunicorn: request ids, who, what model; no secrets."""

from __future__ import annotations

import json
import re
import time

import pytest
from security_helpers import RECORD, bearer, http, login, signed_in, wait_for_job

ACCESS_FIELDS = {"request_id", "method", "route", "status", "latency_ms", "user", "model"}


def log_lines(server) -> list[dict]:
    """Every line the server wrote to stdout, each parsed as JSON (a non-JSON line fails)."""
    lines = []
    for number, line in enumerate(server.server.stdout_path.read_text().splitlines(), 1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"stdout line {number} is not JSON: {line[:300]!r}")
    return lines


def access_line(server, request_id: str, deadline: float = 5.0) -> dict:
    """The access-log line of a request id (waiting briefly for the worker to write it)."""
    stop = time.monotonic() + deadline
    while True:
        found = [
            line
            for line in log_lines(server)
            if line.get("logger") == "webapp.access" and line.get("request_id") == request_id
        ]
        if found or time.monotonic() > stop:
            assert len(found) == 1, (request_id, found)
            return found[0]
        time.sleep(0.1)


@pytest.fixture(scope="module")
def traffic(secure_server, tokens, penguins_csv) -> dict[str, object]:
    """Requests of every kind, each with its own request id; returns the responses by id."""
    base = secure_server.url
    reader, writer, anonymous = http(), http(), http()
    reader.headers.update(bearer(tokens.reader))
    writer.headers.update(bearer(tokens.writer))
    browser = signed_in(base, "wanda", tokens.writer)
    login(http(), base, "rita", tokens.reader)
    login(http(), base, "rita", tokens.writer)  # a wrong token posted in a form
    started = writer.post(
        f"{base}/api/train",
        json={"source": "penguins.csv", "target": "species", "name": "logs"},
        headers={"X-Request-ID": "log-train"},
    )
    assert started.status_code == 202, started.text
    job = wait_for_job(base, started.json()["id"], tokens.reader)
    assert job["state"] == "succeeded", job

    def rid(value: str) -> dict[str, str]:
        return {"X-Request-ID": value}

    return {
        "abc-123": reader.get(f"{base}/api/models/penguins/metadata", headers=rid("abc-123")),
        "log-predict": reader.post(
            f"{base}/api/predict",
            json={"model": "penguins", "records": [RECORD, RECORD]},
            headers=rid("log-predict"),
        ),
        "log-anon": anonymous.get(f"{base}/api/models", headers=rid("log-anon")),
        "log-wrong": anonymous.get(
            f"{base}/api/models", headers={**rid("log-wrong"), **bearer("not-a-token")}
        ),
        "log-upload": writer.post(
            f"{base}/api/datasets",
            files={"file": ("p.csv", penguins_csv)},
            headers=rid("log-upload"),
        ),
        "log-page": browser.get(f"{base}/models/penguins", headers=rid("log-page")),
        "log-csrf": browser.post(f"{base}/train", data={}, headers=rid("log-csrf")),
        "log-404": reader.get(f"{base}/api/models/nope/metadata", headers=rid("log-404")),
        "log-job": job,
    }


def test_request_id_is_echoed_in_the_header_and_the_log(secure_server, traffic):
    response = traffic["abc-123"]
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "abc-123"
    line = access_line(secure_server, "abc-123")
    assert line["method"] == "GET"
    assert line["route"] == "/api/models/<ref>/metadata"
    assert line["path"] == "/api/models/penguins/metadata"
    assert line["status"] == 200
    assert line["user"] == "rita"
    assert line["model"] == "penguins"
    assert isinstance(line["latency_ms"], int | float) and line["latency_ms"] >= 0


@pytest.mark.parametrize(
    ("request_id", "method", "route", "status", "user", "model"),
    [
        ("log-predict", "POST", "/api/predict", 200, "rita", "penguins:1"),
        ("log-anon", "GET", "/api/models", 401, None, None),
        ("log-wrong", "GET", "/api/models", 401, None, None),
        ("log-upload", "POST", "/api/datasets", 201, "wanda", None),
        ("log-page", "GET", "/models/<name>", 200, "wanda", None),
        ("log-csrf", "POST", "/train", 400, None, None),
        ("log-404", "GET", "/api/models/<ref>/metadata", 404, "rita", "nope"),
        ("log-train", "POST", "/api/train", 202, "wanda", None),
    ],
)
def test_each_request_has_one_access_line_with_its_fields(
    secure_server, traffic, request_id, method, route, status, user, model
):
    if request_id in traffic:
        assert traffic[request_id].headers["X-Request-ID"] == request_id
    line = access_line(secure_server, request_id)
    assert ACCESS_FIELDS <= set(line), line
    assert (line["method"], line["route"], line["status"], line["user"]) == (
        method,
        route,
        status,
        user,
    )
    assert line["model"] == model


def test_every_stdout_line_is_json_and_every_access_line_is_complete(secure_server, traffic):
    lines = log_lines(secure_server)
    access = [line for line in lines if line.get("logger") == "webapp.access"]
    assert len(access) >= len(traffic)
    for line in access:
        assert ACCESS_FIELDS <= set(line), line
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", line["request_id"]), line
        assert isinstance(line["status"], int)


def test_unsafe_request_ids_are_replaced_not_echoed(secure_server):
    for given in ["has space", "x" * 65, "new\nline", '"quote"', "ünï"]:
        try:
            response = http().get(f"{secure_server.url}/healthz", headers={"X-Request-ID": given})
        except ValueError:
            continue  # requests itself refuses a header with a newline
        returned = response.headers["X-Request-ID"]
        assert returned != given
        assert re.fullmatch(r"[0-9a-f]{32}", returned)
        assert access_line(secure_server, returned)["route"] == "/healthz"


def test_no_token_ever_reaches_stdout_or_stderr(secure_server, tokens, traffic):
    time.sleep(0.5)
    output = secure_server.server.stdout_path.read_text() + secure_server.server.stderr()
    assert output.strip()
    for secret in (tokens.writer, tokens.reader, "not-a-token"):
        assert secret not in output


def test_job_events_are_logged(secure_server, traffic):
    job = traffic["log-job"]
    # Access lines of the polls name the job in their path; an event is any other line.
    events = [
        line
        for line in log_lines(secure_server)
        if line.get("logger") != "webapp.access" and job["id"] in json.dumps(line)
    ]
    assert events, f"no log line other than access lines mentions job {job['id']}"
