"""The client's monitoring calls: the report, ground-truth feedback, the prediction log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote


def _time(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _window(since: datetime | str | None, until: datetime | str | None) -> dict[str, str]:
    return {k: v for k, v in (("since", _time(since)), ("until", _time(until))) if v}


class MonitoringCalls:
    """Mixed into Client, whose request(method, path, **kwargs) they call."""

    request: Any

    def monitoring(
        self, ref: str, since: datetime | str | None = None, until: datetime | str | None = None
    ) -> dict[str, Any]:
        """The monitoring report of a version over [since, until) (default the last 24 h)."""
        path = f"/api/models/{quote(str(ref), safe='@:')}/monitoring"
        return self.request("GET", path, params=_window(since, until))

    def feedback(self, items: list[dict[str, Any]], model: str | None = None) -> dict[str, Any]:
        """Send true labels [{id, label}] for logged predictions; model limits the search."""
        body: dict[str, Any] = {"feedback": items}
        if model is not None:
            body["model"] = model
        return self.request("POST", "/api/feedback", json=body)

    def predictions(
        self,
        ref: str,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 1000,
        format: str = "json",
    ) -> bytes | list[dict[str, Any]]:
        """Logged predictions with feedback labels: records (json) or file bytes (csv, parquet)."""
        params = {**_window(since, until), "limit": limit, "format": format}
        path = f"/api/models/{quote(str(ref), safe='@:')}/predictions"
        return self.request("GET", path, params=params, raw=format != "json")
