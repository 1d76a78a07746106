"""Fixtures for the core tests: real data files, a CLI runner and a trained penguins model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import palmerpenguins
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from dsba.cli import main


def tree(root: Path) -> dict[str, int]:
    """Map every file under root to its size: a cheap snapshot of a registry folder."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def run_cli(registry: Path, *args: str) -> Result:
    """Run the dsba command line in this process against the registry folder."""
    # One training thread: OpenMP threads spinning on a busy CI machine cost seconds per model.
    env = {"DSBA_REGISTRY_DIR": str(registry), "DSBA_TRAIN_THREADS": "1"}
    result = CliRunner().invoke(main, list(args), env=env)
    # A bug in the command surfaces as an exception, not as an exit code.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, int]]:
    """Return snapshot(root) -> {relative path: size} of every file under root."""
    return tree


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Return run(registry, *args) -> click Result with separate stdout and stderr."""
    return run_cli


@pytest.fixture(scope="session")
def penguins_frame() -> pd.DataFrame:
    """Return the palmerpenguins table (target species; missing values, string columns)."""
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="session")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory, penguins_frame: pd.DataFrame) -> Path:
    """Return the path of penguins.csv written once for the session."""
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    penguins_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def penguins_trained(
    tmp_path_factory: pytest.TempPathFactory, penguins_csv: Path
) -> tuple[Path, dict]:
    """Train penguins:1 with default parameters through the CLI; return registry and --json."""
    registry = tmp_path_factory.mktemp("penguins_registry")
    result = run_cli(
        registry, "--json", "train", str(penguins_csv), "--target", "species", "--name", "penguins"
    )
    assert result.exit_code == 0, result.stderr
    return registry, json.loads(result.stdout)


@pytest.fixture
def penguins_registry(tmp_path: Path, penguins_trained: tuple[Path, dict]) -> Path:
    """Return a private copy of the registry holding penguins:1, free to modify."""
    copy = tmp_path / "registry"
    shutil.copytree(penguins_trained[0], copy)
    return copy
