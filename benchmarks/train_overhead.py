"""Training overhead of dsba against a plain XGBClassifier.fit: wall time and peak memory.

`make bench` runs it; it prints and never asserts. One synthetic table (200,000 rows x 30
feature columns, 5 of them categorical strings, a binary target with signal) is written to a
Parquet file. Each measurement then runs in its own fresh Python process that imports the
same libraries and reads the same file, so the processes differ only in how they train:

- xgboost: strings -> pandas categories, the same stratified train/test and validation splits,
  XGBClassifier(tree_method="hist", enable_categorical=True, same native parameters and
  threads).fit with early stopping on the validation part.
- dsba: dsba.model.training.train_model on the raw frame (schema inference, feature preparation,
  splits, training, evaluation on the test part).
- dsba+save: dsba.service.LocalService.train, which also writes the version to a registry.

Time is the wall clock of that step alone (its CPU time is printed too). Peak memory is the
process's ru_maxrss at the end (imports and the loaded frame included, the same for all);
"own" is that peak minus the resident memory right after imports and loading, i.e. what
training itself added. The workers run --repeat times, interleaved, and the lowest figures
count: on a shared machine OpenMP threads that wait for a core inflate single runs severalfold.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ratio_line, report, rss_mb, run_worker, stopwatch  # noqa: E402

ROWS = 200_000
NUMERIC = 24
CATEGORY_SIZES = (3, 8, 20, 60, 250)
SEED = 42
TEST_SIZE = 0.2
PARAMS = {
    "n_estimators": 150,
    "learning_rate": 0.1,
    "max_depth": 6,
    "max_bin": 256,
    "early_stopping_rounds": 20,
    "validation_fraction": 0.1,
}
TIME_TARGET, MEMORY_TARGET = 1.15, 1.5


def make_data(path: Path) -> None:
    """Write the synthetic table: numeric, integer and string columns, a logistic target."""
    rng = np.random.default_rng(SEED)
    columns: dict[str, object] = {
        f"num_{i:02d}": rng.normal(size=ROWS).astype(np.float64) for i in range(NUMERIC)
    }
    columns["visits"] = rng.poisson(3, size=ROWS)
    logit = columns["num_00"] - 0.8 * columns["num_01"] + 0.5 * columns["num_02"] ** 2 - 0.5
    for size in CATEGORY_SIZES:
        codes = rng.integers(0, size, size=ROWS)
        columns[f"cat_{size}"] = np.array([f"c{size}_{k}" for k in range(size)])[codes]
        logit = logit + rng.normal(scale=0.8, size=size)[codes]
    logit = logit + rng.logistic(size=ROWS) * 0.5
    columns["target"] = np.where(logit > 0, "yes", "no")
    pd.DataFrame(columns).to_parquet(path, index=False)


def load(path: Path) -> tuple[pd.DataFrame, dict]:
    """Import what every worker imports, read the table, note the memory at that point."""
    import sklearn.model_selection  # noqa: F401
    import xgboost  # noqa: F401

    import dsba.model.training  # noqa: F401
    import dsba.service  # noqa: F401

    frame = pd.read_parquet(path)
    return frame, {"loaded_mb": rss_mb()}


def run_xgboost(path: Path, threads: int) -> dict:
    """Train with a plain XGBClassifier on the same rows as dsba."""
    import xgboost as xgb
    from sklearn.model_selection import train_test_split

    frame, result = load(path)
    with stopwatch(result):
        x = frame.drop(columns="target")
        for column in x.columns[x.dtypes.map(pd.api.types.is_string_dtype)]:
            x[column] = x[column].astype("category")
        y = (frame["target"] == "yes").to_numpy().astype(np.int32)
        x_train, _, y_train, _ = train_test_split(
            x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y
        )
        x_fit, x_val, y_fit, y_val = train_test_split(
            x_train,
            y_train,
            test_size=PARAMS["validation_fraction"],
            random_state=SEED,
            stratify=y_train,
        )
        model = xgb.XGBClassifier(
            tree_method="hist",
            n_estimators=PARAMS["n_estimators"],
            learning_rate=PARAMS["learning_rate"],
            max_depth=PARAMS["max_depth"],
            max_bin=PARAMS["max_bin"],
            max_cat_to_onehot=4,
            early_stopping_rounds=PARAMS["early_stopping_rounds"],
            eval_metric="logloss",
            enable_categorical=True,
            n_jobs=threads,
            random_state=SEED,
        )
        model.fit(x_fit, y_fit, eval_set=[(x_val, y_val)], verbose=False)
    result.update(best_iteration=int(model.best_iteration), train_rows=len(y_fit))
    return result


def run_dsba(path: Path, threads: int) -> dict:
    """Train with dsba.model.training.train_model on the raw frame."""
    from dsba.model.training import train_model

    frame, result = load(path)
    with stopwatch(result):
        trained = train_model(
            frame, "target", params=PARAMS, test_size=TEST_SIZE, seed=SEED, threads=threads
        )
    result.update(best_iteration=trained.best_iteration, train_rows=trained.rows["train"])
    return result


def run_service(path: Path, threads: int) -> dict:
    """Train and save a version with dsba.service.LocalService, as the CLI does."""
    from dsba.config import Settings
    from dsba.data.ingestion import Dataset
    from dsba.service import LocalService
    from dsba.store.atomic import sha256_file

    frame, result = load(path)
    dataset = Dataset(frame, sha256_file(path), f"file:{path.name}", "parquet", path.stat().st_size)
    with tempfile.TemporaryDirectory() as registry:
        service = LocalService(Settings(registry_dir=Path(registry), train_threads=threads))
        with stopwatch(result):
            meta = service.train(
                dataset,
                target="target",
                name="bench",
                params=PARAMS,
                test_size=TEST_SIZE,
                seed=SEED,
            )
    result.update(
        best_iteration=meta["best_iteration"], train_rows=meta["dataset"]["rows"]["train"]
    )
    return result


WORKERS = {"xgboost": run_xgboost, "dsba": run_dsba, "dsba+save": run_service}


def describe(name: str, result: dict) -> str:
    """One line per run: time, CPU time, peak memory and what training itself added."""
    own = result["peak_mb"] - result["loaded_mb"]
    return (
        f"{name:<10} {result['seconds']:6.2f} s (cpu {result['cpu_seconds']:6.2f} s)  "
        f"peak {result['peak_mb']:5.0f} MiB (own {own:4.0f} MiB)  "
        f"best round {result['best_iteration']}, {result['train_rows']:,} fit rows"
    )


def best_of(runs: list[dict]) -> dict:
    """The lowest time, CPU time and memory over repeated runs: the least disturbed figures."""
    best = {key: min(run[key] for run in runs) for key in ("seconds", "cpu_seconds", "peak_mb")}
    # "own" memory is per run (peak minus that run's memory after loading), then the least.
    own = min(run["peak_mb"] - run["loaded_mb"] for run in runs)
    return {**runs[0], **best, "loaded_mb": best["peak_mb"] - own}


def main() -> None:
    """Write the data once, run the workers in fresh processes (interleaved), print ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each worker")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        report(WORKERS[args.worker](args.data, args.threads))
        return
    script = Path(__file__).resolve()
    runs: dict[str, list[dict]] = {name: [] for name in WORKERS}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.parquet"
        make_data(data)
        print(
            f"train overhead: {ROWS:,} rows x {NUMERIC + 1 + len(CATEGORY_SIZES)} columns "
            f"({len(CATEGORY_SIZES)} categorical), {args.threads} threads, "
            f"n_estimators={PARAMS['n_estimators']}, max_depth={PARAMS['max_depth']}, "
            f"best of {args.repeat} interleaved runs"
        )
        for _ in range(args.repeat):
            for name in WORKERS:
                result = run_worker(
                    script, "--worker", name, "--data", str(data), "--threads", str(args.threads)
                )
                runs[name].append(result)
                print("  " + describe(name, result), flush=True)
    best = {name: best_of(results) for name, results in runs.items()}
    for name, result in best.items():
        print(describe(name, result))
    base, ours = best["xgboost"], best["dsba"]
    print(ratio_line("train time", ours["seconds"], base["seconds"], TIME_TARGET))
    print(ratio_line("peak memory", ours["peak_mb"], base["peak_mb"], MEMORY_TARGET))
    print(f"cpu time ratio dsba/xgboost: {ours['cpu_seconds'] / base['cpu_seconds']:.2f}x")
    own = [r["peak_mb"] - r["loaded_mb"] for r in (ours, base)]
    print(f"memory added by training, dsba/xgboost: {own[0] / max(own[1], 1):.2f}x")
    saved = best["dsba+save"]
    print(f"with the save (LocalService.train): {saved['seconds'] / base['seconds']:.2f}x time")


if __name__ == "__main__":
    main()
