"""Per-worker tallies of the request metrics, added to prometheus_client's files once a second.

In multiprocess mode every counter increment and histogram observation is a locked write to
a memory-mapped file with a pid check (a getpid system call): about 15,000 instructions
each, five to seven a prediction, a fifth of what the app adds to a bare Flask echo. Here a
request adds to plain dicts; a daemon thread hands the totals to prometheus_client every
FLUSH_SECONDS, and so do /metrics (for its own worker) and a worker's clean exit. A scrape
sees another worker's requests at most FLUSH_SECONDS late; a worker killed with SIGKILL
loses at most its last FLUSH_SECONDS of counts, as it loses the requests it was serving.
"""

from __future__ import annotations

import bisect
import os
import threading

from prometheus_client import Counter, Histogram

FLUSH_SECONDS = 1.0


class MetricTallies:
    """Counter increments and histogram observations kept in dicts until flushed.

    inc() for counters; count_and_time() for a request's counter and latency together.
    """

    def __init__(self, interval: float = FLUSH_SECONDS) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._counts: dict[tuple, float] = {}
        self._histograms: dict[tuple, list] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def inc(self, counter: Counter, labels: tuple[str, ...], amount: float = 1) -> None:
        """Add amount to the counter's child for these label values."""
        key = (counter, labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount
        if self._thread is None:
            self._start()

    def count_and_time(
        self,
        counter: Counter,
        labels: tuple[str, ...],
        histogram: Histogram,
        histogram_labels: tuple[str, ...],
        value: float,
    ) -> None:
        """Count one in the counter's child for labels; observe value in the histogram's."""
        bounds = histogram._upper_bounds  # the bucket bounds, +Inf last, as its children have
        key, hkey = (counter, labels), (histogram, histogram_labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            tally = self._histograms.get(hkey)
            if tally is None:
                tally = self._histograms[hkey] = [0.0] + [0] * len(bounds)
            tally[0] += value
            # Prometheus buckets hold values <= their bound: the first bound >= value.
            tally[1 + bisect.bisect_left(bounds, value)] += 1
        if self._thread is None:
            self._start()

    def flush(self) -> None:
        """Hand everything tallied so far to prometheus_client (its multiprocess files)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            histograms, self._histograms = self._histograms, {}
        for (counter, labels), amount in counts.items():
            counter.labels(*labels).inc(amount)
        for (histogram, labels), tally in histograms.items():
            _add_to_histogram(histogram.labels(*labels), tally)

    def reset_after_fork(self) -> None:
        """In a forked child: nothing tallied yet, and no flushing thread (it did not fork)."""
        self._lock = threading.Lock()
        self._counts, self._histograms = {}, {}
        self._thread, self._stop = None, threading.Event()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="dsba-metric-tallies", daemon=True
            )
        self._thread.start()

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self.interval):
            self.flush()


def _add_to_histogram(child: Histogram, tally: list) -> None:
    """Add a tally (sum, then one count per bucket) to a histogram child.

    prometheus_client's public observe() takes one value at a time; its child keeps the sum
    and the per-bucket counts as values with inc(), which adding totals to is the same.
    tests/webapp/test_metric_tallies.py checks the exposition equals observe()'s.
    """
    child._sum.inc(tally[0])
    for bucket, count in zip(child._buckets, tally[1:], strict=True):
        if count:
            bucket.inc(count)


TALLIES = MetricTallies()
os.register_at_fork(after_in_child=TALLIES.reset_after_fork)
