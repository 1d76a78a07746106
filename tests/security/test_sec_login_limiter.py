"""The login limiter's memory stays bounded under a flood from many addresses."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import TooManyRequests

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
    limiter.check("10.0.0.1")
    limiter.check("10.0.0.1")
    with pytest.raises(TooManyRequests):
        limiter.check("10.0.0.1")
    limiter.check("10.0.0.2")  # another address has its own window
    clock.now += 61
    limiter.check("10.0.0.1")


def test_addresses_idle_for_a_minute_are_forgotten_past_the_cap(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(auth.time, "monotonic", clock)
    limiter = auth.LoginLimiter(per_minute=5)
    flood = auth.LoginLimiter.MAX_TRACKED + 500
    for n in range(flood):
        limiter.check(f"2001:db8::{n:x}")
    assert len(limiter.attempts) == flood
    clock.now += 30
    limiter.check("192.0.2.1")  # recent addresses are all kept: their windows still count
    assert len(limiter.attempts) == flood + 1
    clock.now += 31
    limiter.check("192.0.2.2")
    assert set(limiter.attempts) == {"192.0.2.1", "192.0.2.2"}
