"""Architecture rules: dsba never pulls in the web stack, and nothing serialises with pickle."""

from __future__ import annotations

import ast
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


# Lowest first. A module may import the foundation, its own package and any package of a
# lower rank; the front ends at the top (service, cli, client, jobrunner) may import anything,
# and nothing below them imports them. Packages of one rank never import each other
# (foundation modules and front ends may use their peers).
FOUNDATION = {"errors", "config", "logs", "auth", "vault"}
PACKAGE_RANK = {"store": 1, "data": 2, "registry": 2, "monitoring": 3, "model": 4, "jobs": 5}
FRONT_RANK = 6


def _rank(module: str) -> tuple[int, str]:
    """Rank and unit (package or top-level module) of a dotted dsba module name."""
    parts = module.split(".")
    unit = parts[1] if len(parts) > 1 else "dsba"
    if unit in PACKAGE_RANK:
        return PACKAGE_RANK[unit], unit
    return (0 if unit in FOUNDATION or unit == "dsba" else FRONT_RANK), unit


def _dsba_modules() -> dict[str, Path]:
    """Every module of the dsba package by dotted name."""
    root = REPO_ROOT / "dsba"
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The dsba modules a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in modules and name.startswith("dsba.")}


def test_every_subpackage_imports_only_lower_layers():
    modules = _dsba_modules()
    assert {"dsba.store.atomic", "dsba.data.ingestion", "dsba.model.training"} <= set(modules)
    offenders = []
    for name, path in sorted(modules.items()):
        rank, unit = _rank(name)
        for imported in sorted(_imports_of(path, modules)):
            their_rank, their_unit = _rank(imported)
            if their_unit == unit or their_rank < rank or rank == their_rank in (0, FRONT_RANK):
                continue
            offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_every_top_level_module_is_placed():
    # A new module at the top of dsba must be named here, as foundation or front end.
    top = {p.stem for p in (REPO_ROOT / "dsba").glob("*.py")} - {"__init__"}
    assert top == FOUNDATION | {
        "service",
        "cli",
        "cli_datasets",
        "cli_jobs",
        "cli_models",
        "cli_monitor",
        "cli_options",
        "cli_progress",
        "client",
        "client_monitoring",
        "jobrunner",
    }
    packages = {p.parent.name for p in (REPO_ROOT / "dsba").glob("*/__init__.py")}
    assert packages == set(PACKAGE_RANK)


def test_the_rank_check_catches_an_upward_import(tmp_path):
    modules = {"dsba.store.atomic": tmp_path / "a.py", "dsba.model.training": tmp_path / "t.py"}
    (tmp_path / "a.py").write_text("def f():\n    from dsba.model import training\n")
    imported = _imports_of(tmp_path / "a.py", modules)
    assert imported == {"dsba.model.training"}
    assert _rank("dsba.model.training")[0] > _rank("dsba.store.atomic")[0]


def test_every_module_imports_and_none_pulls_in_the_web_stack():
    names = sorted(_dsba_modules())
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert {"dsba.cli", "dsba.registry.model_registry", "xgboost"} <= loaded
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
    assert (
        REPO_ROOT / "dsba" / "registry" / "model_registry.py" in files
        and REPO_ROOT / "wsgi.py" in files
    )
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(0).strip()}"
        for path in files
        for match in UNSAFE_IMPORT.finditer(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []
