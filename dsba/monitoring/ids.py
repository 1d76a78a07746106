"""Prediction ids: unique across processes and hosts, URL-safe, 30 characters, sortable by time.

An id is <time><node><counter>: the milliseconds since the epoch in 10 base-32 digits, a
random 60-bit node drawn once per process (again after a fork) in 12, and the process's
row counter in 8 hex digits. Two processes share a node with odds of 2^-60, so no
coordination is needed between replicas; ids of one process sort in the order they were made.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from datetime import UTC, datetime

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base 32: no i, l, o, u
ID_LENGTH = 30
ID_PATTERN = re.compile(rf"^[{ALPHABET}]{{22}}[0-9a-f]{{8}}$")
_TIME_DIGITS, _NODE_DIGITS = 10, 12
_DECODE = {char: value for value, char in enumerate(ALPHABET)}


# Every pair of digits (10 bits) at once: an id is made on the request thread.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def _base32(number: int, digits: int) -> str:
    """number in base 32, digits long (an even count)."""
    pairs = [_PAIRS[(number >> shift) & 1023] for shift in range(10 * (digits // 2 - 1), -1, -10)]
    return "".join(pairs)


class _Node:
    """This process's random node and row counter (renewed in a forked child)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.node = _base32(secrets.randbits(60), _NODE_DIGITS)
        self.counter = 0
        self.lock = threading.Lock()
        self.head = (-1, "")  # the last millisecond and its id head, reused within it


_STATE = _Node()
os.register_at_fork(after_in_child=_STATE.reset)


def new_ids(count: int, at: float) -> list[str]:
    """Return count fresh ids stamped with the time at (seconds since the epoch)."""
    millis = int(at * 1000)
    last, head = _STATE.head
    if millis != last:
        head = _base32(millis, _TIME_DIGITS) + _STATE.node
        _STATE.head = (millis, head)
    with _STATE.lock:  # one slice of the counter per call, even with threads
        first = _STATE.counter
        _STATE.counter += count
    if count == 1:
        return [f"{head}{first & 0xFFFFFFFF:08x}"]
    return [f"{head}{n & 0xFFFFFFFF:08x}" for n in range(first, first + count)]


def id_time(prediction_id: str) -> datetime | None:
    """The UTC time an id was made, or None when the text is not a prediction id."""
    if not isinstance(prediction_id, str) or not ID_PATTERN.match(prediction_id):
        return None
    millis = 0
    for char in prediction_id[:_TIME_DIGITS]:
        millis = millis * 32 + _DECODE[char]
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
