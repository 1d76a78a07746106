"""Waiting for what a live server does a moment later (metric tallies reach /metrics in 1 s)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def settled(read: Callable[[], Any], expected: Any, deadline: float = 15.0) -> Any:
    """read() once it returns expected, or its last answer after deadline seconds."""
    stop = time.monotonic() + deadline
    while (value := read()) != expected and time.monotonic() < stop:
        time.sleep(0.1)
    return value
