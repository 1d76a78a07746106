"""The time window of a monitoring read: [since, until), in UTC, the last 24 hours by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dsba.errors import InvalidInput

DEFAULT_WINDOW = timedelta(hours=24)


def parse_time(value: datetime | str | None, name: str) -> datetime | None:
    """A window bound as an aware UTC datetime (naive and date-only text are taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(f"{name} must be an ISO 8601 time, got {value!r}") from exc
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def window(since: Any, until: Any) -> tuple[datetime, datetime]:
    """[since, until): default the last 24 hours up to now."""
    end = parse_time(until, "until") or datetime.now(UTC)
    start = parse_time(since, "since") or end - DEFAULT_WINDOW
    if start >= end:
        raise InvalidInput("since must be before until", {"since": str(since), "until": str(until)})
    return start, end
