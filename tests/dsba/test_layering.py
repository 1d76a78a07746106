"""Architecture rules: dsba never pulls in the web stack, and nothing serialises with pickle."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", "tests", ".git", "node_modules", "vendor", "build", "dist"}
UNSAFE_SERIALISERS = "pickle|cPickle|joblib|cloudpickle|dill"
UNSAFE_IMPORT = re.compile(
    rf"^\s*(?:import\s+[\w., ]*\b(?:{UNSAFE_SERIALISERS})\b|from\s+(?:{UNSAFE_SERIALISERS})\b)"
    rf"|\b(?:to_pickle|read_pickle)\(|__import__\(\s*['\"](?:{UNSAFE_SERIALISERS})['\"]",
    re.MULTILINE,
)


def test_core_modules_do_not_import_the_web_stack():
    code = (
        "import json, sys\n"
        "import dsba, dsba.cli, dsba.service, dsba.pipeline, dsba.prediction, dsba.registry\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert {"dsba.cli", "dsba.registry", "xgboost"} <= loaded
    assert not {name.split(".")[0] for name in loaded} & {"flask", "werkzeug", "webapp"}


def _python_files() -> list[Path]:
    return [
        path
        for path in REPO_ROOT.rglob("*.py")
        if not SKIPPED_DIRS & set(path.relative_to(REPO_ROOT).parts[:-1])
    ]


def test_the_pattern_catches_every_spelling():
    caught = [
        "import pickle",
        "import os, joblib",
        "    import cloudpickle as cp",
        "from dill import dumps",
        "from joblib.numpy_pickle import load",
        "frame.to_pickle(path)",
        "pd.read_pickle(path)",
        "__import__('pickle')",
    ]
    harmless = ["# no pickle here", "import pickled_eggs", "x = 'joblib'", "from picklers import x"]
    assert all(UNSAFE_IMPORT.search(line) for line in caught)
    assert not any(UNSAFE_IMPORT.search(line) for line in harmless)


def test_no_pickle_or_joblib_anywhere_in_the_code():
    files = _python_files()
    assert REPO_ROOT / "dsba" / "registry.py" in files and REPO_ROOT / "wsgi.py" in files
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(0).strip()}"
        for path in files
        for match in UNSAFE_IMPORT.finditer(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []
