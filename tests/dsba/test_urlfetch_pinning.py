"""URL fetching connects to the address it checked: a second DNS answer cannot redirect it."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dsba.config import Settings
from dsba.data.urlfetch import fetch_url


def _handler(host: str, status: int, hits: list[str]):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(host)
            body = b"a,b\n1,2\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def two_servers():
    """The same port on 127.0.0.1 (the checked answer) and 127.0.0.3 (a later answer)."""
    hits: list[str] = []
    first = ThreadingHTTPServer(("127.0.0.1", 0), _handler("127.0.0.1", 200, hits))
    port = first.server_address[1]
    servers = [first]
    try:
        servers.append(ThreadingHTTPServer(("127.0.0.3", port), _handler("127.0.0.3", 500, hits)))
    except OSError:
        first.server_close()
        pytest.skip("cannot bind 127.0.0.3 on this machine")
    threads = [threading.Thread(target=srv.serve_forever, daemon=True) for srv in servers]
    for thread in threads:
        thread.start()
    yield port, hits
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_second_resolution_is_never_used(two_servers, monkeypatch):
    port, hits = two_servers
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            # First answer: what the policy checks. Every later one: somewhere else.
            return real(next(answers, "127.0.0.3"), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings = Settings(url_allow_hosts=("rebind.test",), url_timeout=5)
    body, name = fetch_url(f"http://rebind.test:{port}/data.csv", settings)
    assert body == b"a,b\n1,2\n"
    assert name == "data.csv"
    assert hits == ["127.0.0.1"]
