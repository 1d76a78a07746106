"""The repository documents itself: every setting is in the README, and no link leaves the repo."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTING = re.compile(r"\bDSBA_[A-Z0-9_]+\b")
SETTINGS_READERS = ["dsba/config.py", "webapp/config.py", "gunicorn.conf.py"]


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        REPO_ROOT / name
        for name in listed
        if not name.startswith("static/vendor/") and (REPO_ROOT / name).is_file()
    ]


def test_every_setting_read_is_in_the_readme_configuration_table():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration")[1].split("\n## ")[0]
    read = set()
    for reader in SETTINGS_READERS:
        read |= set(SETTING.findall((REPO_ROOT / reader).read_text(encoding="utf-8")))
    assert {"DSBA_REGISTRY_DIR", "DSBA_MAX_JOBS", "DSBA_KEEPALIVE"} <= read
    assert sorted(name for name in read if name not in table) == []


def test_the_readme_links_the_architecture_notes():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/architecture.md)" in readme
    assert (REPO_ROOT / "docs" / "architecture.md").is_file()


def test_nothing_in_the_repository_points_outside_it():
    outside = re.compile(r"\.\./shared|/work/(?:shared|main|wt)\b|DESIGN\.md|STYLE\.md")
    offenders = []
    for path in _tracked_text_files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [
            f"{path.relative_to(REPO_ROOT)}: {m.group(0)}" for m in outside.finditer(text)
        ]
    assert offenders == []
