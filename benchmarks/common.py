"""Helpers for benchmarks: run a measurement in a fresh process, read its memory, print ratios."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

RESULT_PREFIX = "RESULT "


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Highest resident memory this process has had so far, in MiB (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def stopwatch(into: dict[str, Any], key: str = "seconds"):
    """Store the block's wall-clock seconds in into[key] and its CPU seconds in into[cpu_<key>]."""
    started, cpu_started = time.perf_counter(), cpu_seconds()
    yield
    into[key] = time.perf_counter() - started
    into[f"cpu_{key}"] = cpu_seconds() - cpu_started


def report(result: dict[str, Any]) -> None:
    """Print a worker's result as the one line run_worker looks for; add the peak memory."""
    result["peak_mb"] = peak_rss_mb()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_worker(script: Path, *args: str) -> dict[str, Any]:
    """Run `python script args...` in a fresh process and return the dict it reported."""
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def ratio_line(what: str, ours: float, theirs: float, target: float) -> str:
    """Format 'what ratio dsba/xgboost: 1.08x (target <= 1.15x, met)'."""
    ratio = ours / theirs
    verdict = "met" if ratio <= target else "MISSED"
    return f"{what} ratio dsba/xgboost: {ratio:.2f}x (target <= {target:.2f}x, {verdict})"
