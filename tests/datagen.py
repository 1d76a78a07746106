"""Small synthetic datasets shared by tests in several folders (tests/ is on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd

from dsba.config import Settings
from dsba.data.ingestion import read_bytes
from dsba.service import LocalService


def colour_logit(rows: int, seed: int = 0) -> pd.DataFrame:
    """Four numeric columns, a colour and a binary label: a logistic rule with a clear margin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    colours = np.array(["red", "green", "blue", "grey", "pink"])
    colour = colours[rng.integers(0, len(colours), rows)]
    effect = pd.Series(colour).map({"red": 1.5, "green": -1, "blue": 0, "grey": 0.5, "pink": -1.5})
    logit = 2 * x[:, 0] - 1.5 * x[:, 1] + 0.5 * x[:, 2] + effect.to_numpy()
    label = np.where(rng.random(rows) < 1 / (1 + np.exp(-5 * logit)), "yes", "no")
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2", "x3"])
    return frame.assign(colour=colour, label=label)


def two_version_store(registry_dir: Path) -> LocalService:
    """A store holding m:1 and m:2, small models of y ("up"/"down") from x and z."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame["y"] = np.where(frame["x"] + 0.3 * rng.normal(size=200) > 0, "up", "down")
    raw = frame.to_csv(index=False).encode()
    service = LocalService(Settings(registry_dir=registry_dir, train_threads=1))
    for seed in (1, 2):
        dataset = read_bytes(raw, source="synthetic.csv", filename="synthetic.csv")
        service.train(dataset, target="y", name="m", params={"n_estimators": 10}, seed=seed)
    return service


def penguins_model(registry_dir: Path, rounds: int, name: str = "penguins") -> LocalService:
    """A store holding a penguins model (target species) of at most rounds boosting rounds."""
    raw = palmerpenguins.load_penguins().to_csv(index=False).encode()
    dataset = read_bytes(raw, source="penguins.csv", filename="penguins.csv")
    service = LocalService(Settings(registry_dir=registry_dir, train_threads=1))
    service.train(dataset, target="species", name=name, params={"n_estimators": rounds})
    return service
