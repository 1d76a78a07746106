"""The real public tables benchmarks/quality.py measures, all shipped inside pip packages.

- scikit-learn and palmerpenguins are in the project's venv (dev extras);
- ISLP (the data of "An Introduction to Statistical Learning", the ISLR tables as CSV files)
  is installed with --no-deps into FLAML's benchmark venv: only its CSV files are read, by
  path, so its own dependencies (torch and the book's labs) are never needed.

Nothing is downloaded at run time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import palmerpenguins
import pandas as pd

CLASSIFICATION, REGRESSION = "classification", "regression"


@dataclass(frozen=True)
class Table:
    """One benchmark table: where it comes from, its target, task and test metric."""

    target: str
    task: str
    metric: str
    load: Callable[[Path], pd.DataFrame]
    about: str


def _islp(name: str, drop: tuple[str, ...] = ()) -> Callable[[Path], pd.DataFrame]:
    return lambda data: pd.read_csv(data / f"{name}.csv").drop(columns=list(drop))


def _penguins(_data: Path) -> pd.DataFrame:
    return palmerpenguins.load_penguins()


TABLES: dict[str, Table] = {
    "penguins": Table(
        "species", CLASSIFICATION, "accuracy", _penguins, "palmerpenguins, 344 rows, 3 species"
    ),
    "oj": Table(
        "Purchase",
        CLASSIFICATION,
        "accuracy",
        _islp("OJ"),
        "ISLR OJ, 1,070 orange juice purchases, CH or MM, prices, discounts, store",
    ),
    "college": Table(
        "Private",
        CLASSIFICATION,
        "accuracy",
        _islp("College"),
        "ISLR College, 777 US colleges, private or public, 17 numeric columns",
    ),
    "default": Table(
        "default",
        CLASSIFICATION,
        "balanced_accuracy",
        _islp("Default"),
        "ISLR Default, 10,000 card holders, 3.3% default (imbalanced), student, balance, income",
    ),
    "carseats": Table(
        "Sales",
        REGRESSION,
        "r2",
        _islp("Carseats"),
        "ISLR Carseats, 400 stores' child seat sales, mostly linear, shelf location, urban, US",
    ),
    "wage": Table(
        "wage",
        REGRESSION,
        "r2",
        # logwage is the target's logarithm: a leak.
        _islp("Wage", drop=("logwage",)),
        "ISLR Wage, 3,000 men's wages, age, year, education, job class, health (8 categorical)",
    ),
    "bikeshare": Table(
        "bikers",
        REGRESSION,
        "r2",
        # casual + registered = bikers: a leak.
        _islp("Bikeshare", drop=("casual", "registered")),
        "ISLR Bikeshare, 8,645 hours of bike rentals, month, hour, weather",
    ),
    "penguin-mass": Table(
        "body_mass_g", REGRESSION, "r2", _penguins, "palmerpenguins, 342 body masses in grams"
    ),
}


def islp_data(python: Path) -> Path:
    """The folder of ISLP's CSV files installed in the venv of python, found without importing
    ISLP (its __init__ needs dependencies that were not installed)."""
    code = "import importlib.metadata as m; print(m.distribution('islp').locate_file('ISLP/data'))"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    folder = Path(found.stdout.strip())
    if found.returncode != 0 or not (folder / "Default.csv").is_file():
        raise RuntimeError(f"no ISLP data in {python}'s venv (`make bench-flaml-deps` adds it)")
    return folder
