"""Fixtures of the security tests: tokens, a trained registry, a loopback file server, and one
real gunicorn with authentication on that most tests share (starting one costs seconds)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import palmerpenguins
import pytest
from security_helpers import METRICS_TOKEN

from dsba.auth import hash_token, new_token
from dsba.config import Settings
from dsba.service import LocalService

ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"
MODEL = "penguins"


@dataclass(frozen=True)
class Tokens:
    """A writer's and a reader's token and the DSBA_API_TOKENS value that configures them."""

    writer: str
    reader: str

    @property
    def env(self) -> str:
        """DSBA_API_TOKENS: name:role:sha256 entries, never the tokens."""
        return f"wanda:writer:{hash_token(self.writer)},rita:reader:{hash_token(self.reader)}"


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    """Fresh tokens for this test session."""
    return Tokens(writer=new_token(), reader=new_token())


@pytest.fixture(scope="session")
def run_gunicorn(request: pytest.FixtureRequest) -> Callable:
    """The suite's run_gunicorn(workdir, **env) context manager, for longer-lived servers."""
    plugin = request.config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    assert plugin is not None, f"{ROOT_CONFTEST} is not loaded"
    return plugin.run_gunicorn


@pytest.fixture(scope="session")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The palmerpenguins table as CSV bytes (344 rows, target species)."""
    return palmerpenguins.load_penguins().to_csv(index=False).encode()


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory, penguins_csv: bytes) -> Path:
    """A registry folder holding penguins:1, trained for real (few rounds)."""
    registry = tmp_path_factory.mktemp("seed") / "registry"
    source = registry.parent / "penguins.csv"
    source.write_bytes(penguins_csv)
    LocalService(Settings(registry_dir=registry)).train(
        str(source), target="species", name=MODEL, params={"n_estimators": 20}
    )
    return registry


class FileServer:
    """A loopback HTTP server with a CSV, and redirects from it to forbidden places."""

    def __init__(self, csv: bytes) -> None:
        self.csv = csv
        self.requests: list[tuple[str, str]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append((self.headers.get("Host", ""), self.path))
                redirects = {
                    "/to-loopback": f"http://127.0.0.1:{server.port}/x.csv",
                    "/to-metadata": "http://169.254.169.254/latest/meta-data/",
                    "/to-file": "file:///etc/passwd",
                }
                if self.path in redirects:
                    self.send_response(302)
                    self.send_header("Location", redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/x.csv":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", str(len(server.csv)))
                    self.end_headers()
                    self.wfile.write(server.csv)
                else:
                    self.send_error(404)

            def log_message(self, *args: object) -> None:
                """Stay quiet: pytest shows stderr of failing tests only, and this is noise."""

        return Handler

    def url(self, host: str, path: str) -> str:
        """This server's URL under a host name (localhost, 127.0.0.1, ...)."""
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="session")
def file_server(penguins_csv: bytes) -> Iterator[FileServer]:
    """Serve /x.csv and redirecting paths on a free loopback port."""
    server = FileServer(penguins_csv)
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@dataclass
class SecureServer:
    """The shared gunicorn with auth on, and the folders it was given."""

    server: object
    data_dir: Path
    metrics_dir: Path
    outside: Path

    @property
    def url(self) -> str:
        """Base URL."""
        return self.server.url

    @property
    def registry_dir(self) -> Path:
        """The store root."""
        return self.server.registry_dir


@pytest.fixture(scope="session")
def secure_server(
    tmp_path_factory: pytest.TempPathFactory,
    run_gunicorn: Callable,
    tokens: Tokens,
    trained_registry: Path,
    penguins_csv: bytes,
) -> Iterator[SecureServer]:
    """gunicorn (2 workers) with a writer and a reader token, penguins:1 in its registry,
    a data folder holding a symlink out of it, and only `localhost` allowed for URLs."""
    workdir = tmp_path_factory.mktemp("secure")
    registry = workdir / "registry"
    shutil.copytree(trained_registry, registry)
    data_dir, metrics_dir, outside = workdir / "data", workdir / "metrics", workdir / "outside"
    for folder in (data_dir, metrics_dir, outside):
        folder.mkdir()
    (data_dir / "penguins.csv").write_bytes(penguins_csv)
    (outside / "secret.csv").write_bytes(penguins_csv)
    (data_dir / "escape.csv").symlink_to(outside / "secret.csv")
    (data_dir / "passwd.csv").symlink_to("/etc/passwd")
    with run_gunicorn(
        workdir,
        DSBA_REGISTRY_DIR=str(registry),
        DSBA_API_TOKENS=tokens.env,
        DSBA_DATA_DIR=str(data_dir),
        DSBA_URL_ALLOW_HOSTS="localhost",
        DSBA_URL_TIMEOUT="5",
        DSBA_LOGIN_ATTEMPTS_PER_MINUTE="10000",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        DSBA_METRICS_TOKEN=METRICS_TOKEN,
    ) as server:
        yield SecureServer(server, data_dir, metrics_dir, outside)
