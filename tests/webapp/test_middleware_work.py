"""The per-request hooks do only the work a request needs: access lines without logging
records, no session machinery for API calls without a cookie (work counted, not timed)."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime

import flask.sessions
import marshmallow
import pytest
from werkzeug.test import create_environ

from dsba.auth import hash_token
from dsba.config import Settings
from dsba.logs import JsonFormatter
from webapp import create_app
from webapp.observability import _timestamp

TOKEN = "dsba_middleware-test-token"
REQUESTS = 20


def _app(tmp_path, **settings):
    settings = Settings(
        registry_dir=tmp_path / "registry", api_tokens=f"ann:reader:{hash_token(TOKEN)}", **settings
    )
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True})


def _access_lines(text: str) -> list[dict]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line for line in lines if line.get("logger") == "webapp.access"]


@pytest.fixture
def records(monkeypatch) -> list[str]:
    """Names of the loggers every LogRecord made from now on was made for."""
    made: list[str] = []
    original = logging.Logger.makeRecord

    def counting(self, name, *args, **kwargs):
        made.append(name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "makeRecord", counting)
    return made


def test_access_lines_are_json_formatter_lines_without_logging_records(tmp_path, capsys, records):
    client = _app(tmp_path).test_client()
    capsys.readouterr()
    for number in range(REQUESTS):
        response = client.get(
            "/api/models",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": f"work-{number}"},
        )
        assert response.status_code == 200

    lines = _access_lines(capsys.readouterr().out)

    assert [line["request_id"] for line in lines] == [f"work-{n}" for n in range(REQUESTS)]
    assert "webapp.access" not in records
    # The same keys in the same order as JsonFormatter writes for the same event.
    fields = {k: v for k, v in lines[0].items() if k not in ("ts", "level", "logger", "message")}
    record = logging.makeLogRecord(
        {"name": "webapp.access", "levelname": "INFO", "msg": "request", **fields}
    )
    expected = json.loads(JsonFormatter().format(record))
    assert list(lines[0]) == list(expected)
    assert {**lines[0], "ts": expected["ts"]} == expected
    assert lines[0]["user"] == "ann" and lines[0]["route"] == "/api/models"


def test_a_stream_that_is_not_utf8_gets_escaped_access_lines(tmp_path, monkeypatch):
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    client = _app(tmp_path).test_client()
    response = client.get("/api/models/caf\u00e9/metadata", headers={"X-Request-ID": "ascii-1"})
    assert response.status_code == 401
    sys.stdout.flush()
    [line] = [json.loads(x) for x in raw.getvalue().splitlines() if b"ascii-1" in x]
    assert line["path"] == "/api/models/caf\u00e9/metadata" and line["status"] == 401


def test_text_logs_still_carry_one_access_line_per_request(tmp_path, capsys):
    client = _app(tmp_path, log_json=False).test_client()
    capsys.readouterr()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    lines = [line for line in capsys.readouterr().out.splitlines() if line.endswith(" request")]
    assert len(lines) == 3 and all(" INFO " in line for line in lines)


def test_api_calls_without_a_cookie_build_no_session_serializer(tmp_path, monkeypatch):
    built = []

    class Counting(flask.sessions.URLSafeTimedSerializer):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(flask.sessions, "URLSafeTimedSerializer", Counting)
    client = _app(tmp_path).test_client()
    for _ in range(REQUESTS):
        response = client.get("/api/models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    assert built == []

    # A browser that signs in gets its session, read back on later pages with one serializer.
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    signed_in = client.post(
        "/login",
        data={"name": "ann", "token": TOKEN, "csrf_token": token.split('"')[0]},
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:300]
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert len(built) == 1


@pytest.mark.parametrize(
    "created", [1943788612.474, 1700000000.0, 1700000000.9999996, 1700000000.0005, 1.5e9 + 0.0015]
)
def test_access_line_times_are_json_formatter_times(created):
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert _timestamp(created) == expected


def test_flask_asks_once_per_function_whether_it_is_a_coroutine(tmp_path, monkeypatch):
    import webapp

    app = _app(tmp_path)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/models", headers=headers).status_code == 200
    asked: list[object] = []
    real = webapp.iscoroutinefunction
    monkeypatch.setattr(webapp, "iscoroutinefunction", lambda f: asked.append(f) or real(f))
    for _ in range(REQUESTS):
        assert client.get("/api/models", headers=headers).status_code == 200
    assert asked == []

    async def handler():
        return None

    # A coroutine function still goes to Flask's async_to_sync, as Flask's own ensure_sync does
    # (which needs asgiref, present or not depending on the extras installed: count the call).
    converted: list[object] = []
    monkeypatch.setattr(app, "async_to_sync", lambda f: converted.append(f) or f)
    assert app.ensure_sync(handler) is handler
    assert asked == [handler] and converted == [handler]


def test_plain_predict_bodies_skip_the_fields_and_others_get_their_errors():
    from webapp.api.schemas import PredictRequestSchema

    schema = PredictRequestSchema()
    plain = {"model": "m", "records": [{"a": 1}]}
    assert schema.load(plain) == {**plain, "contributions": False}
    assert schema.load({**plain, "contributions": "true"})["contributions"] is True
    for body, field in [
        ({"records": []}, "model"),
        ({**plain, "model": ""}, "model"),
        ({**plain, "model": "m" * 201}, "model"),
        ({**plain, "records": None}, "records"),
        ({**plain, "extra": 1}, "extra"),
        ({**plain, "contributions": "maybe"}, "contributions"),
    ]:
        with pytest.raises(marshmallow.ValidationError) as caught:
            schema.load(body)
        assert field in caught.value.messages


@pytest.mark.parametrize("hops", [1, 2])
@pytest.mark.parametrize(
    "forwarded", ["203.0.113.7", "198.51.100.1, 203.0.113.7", " a ,, b ", '"192.0.2.1", c', ",", ""]
)
def test_the_client_address_is_the_one_werkzeugs_proxyfix_reads(forwarded, hops):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from webapp.middleware import RequestLayer
    from webapp.security import header_sets

    seen = []

    def app(environ, start_response):
        seen.append(environ["REMOTE_ADDR"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    def environ():
        return {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": forwarded, "PATH_INFO": "/"}

    ProxyFix(app, x_for=hops)(environ(), lambda *args: None)
    RequestLayer(app, header_sets(False), hops)(environ(), lambda *args: None)
    assert seen[0] == seen[1]


def test_the_layer_lets_go_of_the_request_so_no_reference_cycle_is_left(tmp_path):
    app = _app(tmp_path)
    layer, environs = app.wsgi_app, []
    inner = layer.app

    def capturing(environ, start_response):
        environs.append(environ)
        return inner(environ, start_response)

    layer.app = capturing
    response = app.test_client().get("/api/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    # bind() put the request and g in the environ for the access line; the layer took them out.
    [environ] = environs
    assert "dsba.request" not in environ and "dsba.g" not in environ
    assert environ["dsba.request_id"] == response.headers["X-Request-ID"]


def test_forked_workers_make_different_request_ids():
    """The random module reseeds in a forked child, so two workers never repeat each other."""
    import os

    from webapp.middleware import request_id

    request_id({})  # the parent has drawn before forking, as a gunicorn master never does
    reads = []
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write, ",".join(request_id({}) for _ in range(3)).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        reads.append(os.read(read, 4096).decode().split(","))
        os.close(read)
    first, second = reads
    assert len(set(first) | set(second)) == 6
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in first + second)


def _wsgi_environ(path: str = "/api/models", file_wrapper=None) -> dict:
    environ = create_environ(path, headers={"Authorization": f"Bearer {TOKEN}"})
    if file_wrapper is not None:
        environ["wsgi.file_wrapper"] = file_wrapper
    return environ


def test_the_access_line_is_written_when_the_server_closes_the_sent_body(tmp_path, capsys):
    app = _app(tmp_path)
    capsys.readouterr()
    statuses = []
    body = app.wsgi_app(_wsgi_environ(), lambda status, headers, exc=None: statuses.append(status))
    sent = b"".join(body)
    assert statuses == ["200 OK"] and json.loads(sent) == []
    # Sent, not yet closed: nothing counted or logged, the client already has its answer.
    assert _access_lines(capsys.readouterr().out) == []
    body.close()
    body.close()  # a second close observes nothing more
    [line] = _access_lines(capsys.readouterr().out)
    assert (line["route"], line["status"], line["user"]) == ("/api/models", 200, "ann")


def test_a_file_the_server_sends_itself_is_handed_over_unwrapped(tmp_path, capsys):
    """gunicorn sends its own file wrapper with sendfile; wrapping it would lose that."""

    class FileWrapper:
        def __init__(self, file, block_size=8192):
            self.file = file

        def __iter__(self):
            return iter(lambda: self.file.read(8192), b"")

        def close(self):
            self.file.close()

    app = _app(tmp_path)
    capsys.readouterr()
    environ = _wsgi_environ("/static/css/app.css", file_wrapper=FileWrapper)
    body = app.wsgi_app(environ, lambda *args: None)
    assert type(body) is FileWrapper
    [line] = _access_lines(capsys.readouterr().out)
    assert line["route"] == "/static/<path:filename>" and line["status"] == 200
    body.close()


def test_the_test_client_closes_answers_as_a_server_does_unless_asked_to_stream(tmp_path, capsys):
    client = _app(tmp_path).test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    capsys.readouterr()
    assert client.get("/api/models", headers=headers).status_code == 200
    assert len(_access_lines(capsys.readouterr().out)) == 1
    streamed = client.get("/api/models", headers=headers, buffered=False)
    assert streamed.get_data() == b"[]\n"
    assert _access_lines(capsys.readouterr().out) == []
    streamed.close()
    assert len(_access_lines(capsys.readouterr().out)) == 1
