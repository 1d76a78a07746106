"""The Makefile's installs: `make run` gets the core dependencies only, test tools come later.

Real make runs the real Makefile in a copy of the repository root, with stand-ins for
python, pip and gunicorn that log their arguments: what each target installs is counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CORE = "install --quiet --no-compile -e ."
FULL = "install --quiet -e .[dev,dask,azure]"

# Logs its arguments to calls.log, one line per call, and does nothing else.
STAND_IN = '#!/bin/sh\necho "$(basename "$0") $*" >> "{log}"\n'
# `python -m venv DIR` makes DIR/bin with the stand-ins, like a venv with pip in it.
FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "{log}"
[ "$1 $2" = "-m venv" ] || exit 0
mkdir -p "$3/bin"
for tool in python pip gunicorn ruff pytest; do
    printf '%s' '{stand_in}' > "$3/bin/$tool"
    chmod +x "$3/bin/$tool"
done
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder with the Makefile and pyproject.toml, and a stand-in python on PYTHON."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    log = tmp_path / "calls.log"
    log.touch()
    python = tmp_path / "fake-python"
    python.write_text(FAKE_PYTHON.format(log=log, stand_in=STAND_IN.format(log=log)))
    python.chmod(0o755)
    return tmp_path


def make(checkout: Path, target: str) -> list[str]:
    """Run one make target; return the stand-in calls it made, in order."""
    log = checkout / "calls.log"
    before = log.read_text().splitlines()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSBA_", "MAKE", "MFLAGS"))}
    done = subprocess.run(
        ["make", "--no-print-directory", target, f"PYTHON={checkout / 'fake-python'}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return log.read_text().splitlines()[len(before) :]


def installs(calls: list[str]) -> list[str]:
    """The pip installs of the project among calls."""
    return [
        call.removeprefix("pip ")
        for call in calls
        if call.startswith("pip install") and " -e " in call
    ]


def test_run_on_a_fresh_checkout_makes_the_venv_and_installs_the_core_only(checkout):
    calls = make(checkout, "run")

    assert calls[0].startswith("python -m venv .venv")
    assert installs(calls) == [CORE]
    assert calls[-1].startswith("gunicorn -c gunicorn.conf.py wsgi:app")


def test_test_tools_are_added_after_run_and_run_then_installs_nothing(checkout):
    assert installs(make(checkout, "run")) == [CORE]
    assert installs(make(checkout, "lint")) == [FULL]
    assert installs(make(checkout, "run")) == []
    assert installs(make(checkout, "test-fast")) == []


def test_after_the_full_install_run_installs_nothing(checkout):
    assert installs(make(checkout, "lint")) == [FULL]
    assert installs(make(checkout, "run")) == []


def test_a_changed_pyproject_installs_again(checkout):
    make(checkout, "lint")
    # The installs happened an hour before the dependency list changed.
    earlier = time.time() - 3600
    for stamp in (checkout / ".venv").glob(".installed-*"):
        os.utime(stamp, (earlier, earlier))

    assert installs(make(checkout, "run")) == [CORE]
    assert installs(make(checkout, "lint")) == [FULL]
