"""benchmarks/serve.py runs end to end and prints every row, ratio and interval it promises
(a short run on the real gunicorn servers; no timing checks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import serve  # noqa: E402

RATIO = re.compile(
    r"^(?P<what>[a-z /]+ req/s): [\d.]+x, 90% interval (?P<low>[\d.]+)-(?P<high>[\d.]+)x, "
    r"rounds [\d.]+-[\d.]+x \(target >= [\d.]+x, (?P<verdict>met|MISSED|unsettled: run longer)\)$"
)


@pytest.mark.slow
def test_serve_prints_the_echo_rows_their_intervals_and_the_noise_row():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSBA_", "PROMETHEUS_"))}
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "serve.py"),
            *("--only", "bare echo,app echo,predict", "--seconds", "2", "--rounds", "2"),
            "--noise",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for label in ("bare echo again", "bare echo", "app echo", "predict"):
        assert any(re.match(rf"  {label} +[\d.]+ req/s ", line) for line in lines), label
    ratios = {m["what"]: m for m in map(RATIO.match, lines) if m}
    assert set(ratios) == {
        "app echo/bare echo req/s",
        "predict/bare echo req/s",
        "predict/app echo req/s",
    }, done.stdout
    assert all(float(m["low"]) <= float(m["high"]) for m in ratios.values())
    assert any(line.startswith("noise: a second bare echo server/the first ") for line in lines)
    assert "Traceback" not in done.stderr


def test_an_interval_settles_a_verdict_only_when_it_clears_the_target():
    steady = [0.95] * 9
    assert serve.median_interval(steady) == (0.95, 0.95)
    assert serve.verdict_of(serve.median_interval(steady), 0.90) == "met"
    noisy = [0.80, 0.85, 0.88, 0.93, 0.95, 0.97, 1.02, 1.10]
    low, high = serve.median_interval(noisy)
    assert low < 0.90 < high
    assert serve.verdict_of((low, high), 0.90) == "unsettled: run longer"
    assert serve.verdict_of((0.80, 0.89), 0.90) == "MISSED"
