"""Make a folder refuse writes for a test, as a read-only share would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def make_read_only(folder: Path) -> None:
    """Make folder refuse new files, even to root (which chmod alone does not stop)."""
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=False, capture_output=True)
    probe = folder / "probe"
    try:
        probe.mkdir()
    except OSError:
        return
    probe.rmdir()
    pytest.skip("cannot make a folder read-only here")


def make_writable(folder: Path) -> None:
    """Undo make_read_only."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False, capture_output=True)
    folder.chmod(0o755)
