"""The login limiter: windows per address and per account name, memory bounded under a flood."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import TooManyRequests

from dsba.config import Settings
from dsba.errors import InvalidInput
from webapp import auth


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_refuses_past_the_limit_and_forgets_after_a_minute(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth.time, "monotonic", clock)
    limiter = auth.LoginLimiter(per_minute=2)
    limiter.check("10.0.0.1", "ann")
    limiter.check("10.0.0.1", "bob")
    with pytest.raises(TooManyRequests):
        limiter.check("10.0.0.1", "cat")
    limiter.check("10.0.0.2", "ann")  # another address has its own window
    clock.now += 61
    limiter.check("10.0.0.1", "ann")


def test_failures_on_one_name_refuse_it_everywhere_but_in_a_known_browser(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth.time, "monotonic", clock)
    limiter = auth.LoginLimiter(per_minute=2)
    budget = 2 * auth.LoginLimiter.ACCOUNT_FACTOR
    for n in range(budget):
        limiter.check(f"10.0.1.{n}", "ann")
        limiter.failed("ann")
    with pytest.raises(TooManyRequests):
        limiter.check("10.0.2.1", "ann")
    limiter.check("10.0.2.1", "ann", known=True)
    limiter.check("10.0.2.2", "bob")  # another name has its own window
    clock.now += 61
    limiter.check("10.0.2.3", "ann")


def test_addresses_idle_for_a_minute_are_forgotten_past_the_cap(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth.time, "monotonic", clock)
    windows = auth.MinuteWindows(limit=5)
    flood = auth.MinuteWindows.MAX_TRACKED + 500
    for n in range(flood):
        assert not windows.full(f"2001:db8::{n:x}", clock())
        windows.add(f"2001:db8::{n:x}", clock())
    assert len(windows.events) == flood
    clock.now += 30
    windows.full("192.0.2.1", clock())  # recent keys are all kept: their windows still count
    windows.add("192.0.2.1", clock())
    assert len(windows.events) == flood + 1
    clock.now += 31
    windows.full("192.0.2.2", clock())
    assert set(windows.events) == {"192.0.2.1", "192.0.2.2"}


def test_proxy_hops_are_a_count_of_trusted_proxies():
    assert Settings.from_env({}).proxy_hops == 0
    assert Settings.from_env({"DSBA_PROXY_HOPS": "1"}).proxy_hops == 1
    with pytest.raises(InvalidInput, match="DSBA_PROXY_HOPS"):
        Settings.from_env({"DSBA_PROXY_HOPS": "-1"})
