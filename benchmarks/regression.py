"""Regression quality on real data: dsba against scikit-learn's HistGradientBoostingRegressor.

`python benchmarks/regression.py` prints, per dataset and split seed, dsba's test R², the R² of
HistGradientBoostingRegressor (default settings) trained on the same training part, and the
empirical coverage and mean width of dsba's conformal intervals on the test part, with the
interval method kept. It prints and never asserts (tests/dsba/test_regression_quality.py does).

Datasets (real, public, shipped with installed packages, so nothing is downloaded):
- diabetes: scikit-learn's bundled table, 442 patients, disease progression after a year.
- penguins: Palmer penguins' body mass in grams (palmerpenguins), written to a CSV and read
  back as a user's upload is; 342 labelled rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from dsba.data.ingestion import read_source
from dsba.data.schema import prepare_features
from dsba.model.training import train_model


def datasets(folder: Path) -> dict[str, tuple[pd.DataFrame, str]]:
    """Each dataset's frame and target column."""
    path = folder / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(path, index=False)
    return {
        "diabetes": (load_diabetes(as_frame=True).frame, "target"),
        "penguins": (read_source(str(path)).frame, "body_mass_g"),
    }


def measure(frame: pd.DataFrame, target: str, seed: int, interval: float) -> dict:
    """dsba's and HGB's test R², and dsba's interval figures, for one split."""
    started = time.perf_counter()
    result = train_model(frame, target, seed=seed, threads=1, interval=interval)
    seconds = time.perf_counter() - started
    metrics = result.evaluation["metrics"]
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    x, _ = prepare_features(result.schema, labelled)
    y = labelled[target].to_numpy(np.float64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed)
    hgb = HistGradientBoostingRegressor(random_state=seed, categorical_features="from_dtype")
    with threadpool_limits(1):
        hgb_r2 = hgb.fit(x_train, y_train).score(x_test, y_test)
    return {
        "r2": metrics["r2"],
        "hgb_r2": hgb_r2,
        "coverage": metrics["interval_coverage"],
        "width": metrics["interval_mean_width"],
        "method": result.intervals["method"],
        "seconds": seconds,
    }


def main() -> None:
    """Print the figures of every dataset and seed, then the means."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, (frame, target) in datasets(Path(folder)).items():
            rows = [measure(frame, target, seed, args.interval) for seed in range(args.seeds)]
            table = pd.DataFrame(rows, index=pd.RangeIndex(args.seeds, name="seed"))
            print(f"\n{name} ({target}), nominal coverage {args.interval}")
            print(table.round(3).to_string())
            means = table.drop(columns="method").mean()
            print("mean  " + "  ".join(f"{k}={v:.3f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
