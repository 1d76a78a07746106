"""Drift and monitoring status per model version on /metrics, recomputed at most every N s.

A scrape never waits long: the reports are recomputed when the cache is older than the
interval, by one thread at a time (others answer the cached samples), and a refresh stops
after a time budget; the versions it did not reach keep their last samples and go first
next time. Nothing here runs on a prediction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from webapp.api.monitoring_schemas import STATUSES

log = logging.getLogger("webapp.monitoring")
# A refresh starts no new report past this many seconds (one report of a busy model: ~1 s).
REFRESH_BUDGET_SECONDS = 5.0


def watched_versions(models: list[dict[str, Any]]) -> list[str]:
    """name:version of each model's latest version and every version an alias points at."""
    refs = []
    for model in models:
        versions = {int(model["latest_version"])}
        for target in (model.get("aliases") or {}).values():
            versions |= {int(v) for v in target} if isinstance(target, dict) else {int(target)}
        refs += [f"{model['name']}:{version}" for version in sorted(versions)]
    return refs


class MonitoringCollector:
    """dsba_feature_drift and dsba_model_monitoring_status for the watched versions."""

    def __init__(self, service: Any, interval: float, clock: Callable[[], float] = time.monotonic):
        self.service = service
        self.interval = interval
        self.clock = clock
        self.samples: dict[str, dict[str, Any]] = {}  # ref -> {status, drift: {feature: score}}
        self.refreshed_at: float | None = None
        self.reports_computed = 0  # counted, so a test can tell a cached scrape from a refresh
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        started = self.clock()
        refs = watched_versions(self.service.list_models())
        # Versions without samples (new, or not reached last time) go first.
        refs.sort(key=lambda ref: ref in self.samples)
        kept = {ref: self.samples[ref] for ref in refs if ref in self.samples}
        for ref in refs:
            if self.clock() - started > REFRESH_BUDGET_SECONDS:
                break
            try:
                report = self.service.monitoring(ref)
            except Exception:  # one broken version must not take the others' metrics away
                log.warning("monitoring metrics: the report of %s failed", ref, exc_info=True)
                continue
            self.reports_computed += 1
            kept[ref] = {
                "status": report["status"],
                "drift": {f["name"]: f["score"] for f in report["features"]},
            }
        self.samples = kept
        self.refreshed_at = self.clock()

    def _current(self) -> dict[str, dict[str, Any]]:
        stale = self.refreshed_at is None or self.clock() - self.refreshed_at >= self.interval
        # One scrape refreshes; a concurrent one answers what is cached instead of waiting.
        if stale and self._lock.acquire(blocking=False):
            try:
                self._refresh()
            finally:
                self._lock.release()
        return self.samples

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the drift score per feature and a 0/1 gauge per monitoring status."""
        samples = self._current()
        drift = GaugeMetricFamily(
            "dsba_feature_drift",
            "Drift score of a feature over the last 24 hours (see the monitoring report)",
            labels=["model", "version", "feature"],
        )
        status = GaugeMetricFamily(
            "dsba_model_monitoring_status",
            "Monitoring status of a model version over the last 24 hours (1: current)",
            labels=["model", "version", "status"],
        )
        for ref, sample in sorted(samples.items()):
            name, version = ref.split(":")
            for feature, score in sample["drift"].items():
                if score is not None:
                    drift.add_metric([name, version, feature], score)
            for value in STATUSES:
                status.add_metric([name, version, value], 1 if value == sample["status"] else 0)
        yield drift
        yield status
