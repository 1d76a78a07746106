"""The login limiter behind a real Caddy (as in the ACI deployment, DSBA_PROXY_HOPS=1): one
client cannot lock others out, a forged X-Forwarded-For gets nobody around it, and guessing
one name from many addresses stops while that user's own browser still signs in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter
from security_helpers import csrf_token, http

from tests.caddy import CADDY, MISSING, run_caddy, run_ingress

PER_MINUTE = 3
# Per account name, failed attempts: ACCOUNT_FACTOR (4) times the per-address limit.
PER_ACCOUNT = 4 * PER_MINUTE
pytestmark = pytest.mark.skipif(CADDY is None, reason=MISSING)


class SourceAddressAdapter(HTTPAdapter):
    """Connect from a given loopback address: Linux routes all of 127.0.0.0/8 to lo."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        """Bind every connection's source address."""
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str) -> requests.Session:
    """A browser at address: its connections come from there and close after each request."""
    session = http()
    session.mount("http://", SourceAddressAdapter(address))
    session.headers["Connection"] = "close"
    return session


def attempt(session: requests.Session, base: str, name: str, token: str, **headers: str) -> int:
    """One login through the form; the status of the POST."""
    page = session.get(f"{base}/login", timeout=10)
    assert page.status_code == 200, page.text[:300]
    return session.post(
        f"{base}/login",
        data={"csrf_token": csrf_token(page.text), "name": name, "token": token},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    ).status_code


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, run_gunicorn, tokens) -> Iterator[str]:
    """gunicorn with one worker (its limiter windows are then exact) trusting one proxy hop,
    behind the real Caddy running azure/Caddyfile as deployed; the URL through Caddy."""
    workdir = tmp_path_factory.mktemp("proxied")
    with run_gunicorn(
        workdir,
        DSBA_API_TOKENS=tokens.env,
        DSBA_LOGIN_ATTEMPTS_PER_MINUTE=str(PER_MINUTE),
        DSBA_PROXY_HOPS="1",
        WEB_CONCURRENCY="1",
    ) as server:
        with run_caddy(workdir / "caddy", server.url) as url:
            yield url


def test_one_client_guessing_does_not_lock_out_another(proxied, tokens):
    attacker = client("127.0.0.2")
    statuses = [attempt(attacker, proxied, "wanda", f"guess-{n}") for n in range(4 * PER_MINUTE)]
    assert statuses == [401] * PER_MINUTE + [429] * 3 * PER_MINUTE
    # The attacker's address stays blocked, right token or not...
    assert attempt(attacker, proxied, "wanda", tokens.writer) == 429
    # ...while the user at another address signs in (before the fix every client was Caddy's
    # 127.0.0.1 to the app, and this was a 429).
    assert attempt(client("127.0.0.3"), proxied, "wanda", tokens.writer) == 302


def test_behind_the_container_apps_ingress_each_client_counts_apart(tmp_path, run_gunicorn, tokens):
    """Container Apps: ingress, then the Caddy sidecar, then the app with two trusted hops."""
    with (
        run_gunicorn(
            tmp_path / "app",
            DSBA_API_TOKENS=tokens.env,
            DSBA_LOGIN_ATTEMPTS_PER_MINUTE=str(PER_MINUTE),
            DSBA_PROXY_HOPS="2",
            WEB_CONCURRENCY="1",
        ) as server,
        run_caddy(tmp_path / "sidecar", server.url) as sidecar,
        run_ingress(tmp_path / "ingress", sidecar) as ingress,
    ):
        attacker = client("127.0.0.2")
        forged = {"X-Forwarded-For": "203.0.113.9"}
        statuses = [
            attempt(attacker, ingress, "wanda", f"guess-{n}", **forged)
            for n in range(2 * PER_MINUTE)
        ]
        assert statuses == [401] * PER_MINUTE + [429] * PER_MINUTE
        # With one trusted hop every client would be the ingress's address, and this a 429.
        assert attempt(client("127.0.0.3"), ingress, "wanda", tokens.writer) == 302


def test_a_forged_x_forwarded_for_does_not_get_around_the_limit(proxied):
    forger = client("127.0.0.4")
    statuses = [
        attempt(forger, proxied, "forger", "guess", **{"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(2 * PER_MINUTE)
    ]
    assert statuses == [401] * PER_MINUTE + [429] * PER_MINUTE


def test_guessing_one_name_from_many_addresses_stops_but_its_browser_still_signs_in(
    proxied, tokens
):
    browser = client("127.0.0.5")
    assert attempt(browser, proxied, "rita", tokens.reader) == 302
    [known] = [cookie for cookie in browser.cookies if cookie.name == "dsba_known_login"]
    assert known.path == "/login" and known.has_nonstandard_attr("HttpOnly")
    assert tokens.reader not in known.value
    botnet = [client(f"127.0.1.{n}") for n in range(1, PER_ACCOUNT + 3)]
    statuses = [attempt(bot, proxied, "rita", "guess") for bot in botnet]
    assert statuses == [401] * PER_ACCOUNT + [429] * 2
    # A browser that never signed in as rita is held back, even with the right token...
    assert attempt(client("127.0.0.6"), proxied, "rita", tokens.reader) == 429
    # ...but rita's own browser, which did, is not.
    assert attempt(browser, proxied, "rita", tokens.reader) == 302


def test_without_trusted_proxies_a_direct_client_cannot_pose_as_many(start_gunicorn, tokens):
    server = start_gunicorn(
        DSBA_API_TOKENS=tokens.env,
        DSBA_LOGIN_ATTEMPTS_PER_MINUTE=str(PER_MINUTE),
        DSBA_PROXY_HOPS=None,
        WEB_CONCURRENCY="1",
    )
    forger = client("127.0.0.7")
    statuses = [
        attempt(forger, server.url, "forger", "guess", **{"X-Forwarded-For": f"203.0.113.{n}"})
        for n in range(2 * PER_MINUTE)
    ]
    assert statuses == [401] * PER_MINUTE + [429] * PER_MINUTE
