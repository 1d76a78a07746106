"""benchmarks/soak.py runs end to end and prints its figures (a short run; no timing checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "soak.py"
FIELDS = [
    "requests: ",
    "errors: ",
    "from the SIGKILL of worker",
    "latency (all successful): p50 ",
    " p99 ",
    "/metrics: ",
    "RSS master ",
    "RSS surviving worker ",
    "RSS respawned worker ",
    "training job: ",
]


@pytest.mark.slow
def test_soak_runs_briefly_and_prints_every_figure():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSBA_", "PROMETHEUS_"))}
    done = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "4", "--threads", "2", "--train-rows", "5000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    missing = [field for field in FIELDS if field not in done.stdout]
    assert missing == [], done.stdout
    assert "Traceback" not in done.stderr
