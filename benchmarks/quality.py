"""Model quality on real tables: dsba's time-budgeted search and its defaults against FLAML.

`make bench-quality` (or `python benchmarks/quality.py`) prints, for each table and split,
the test score of three models, then per table the mean and standard deviation over the
splits and ours − FLAML, then the average over tables. It prints and never asserts.

- ours@B:   dsba.model.training.train_model(frame, target, time_budget=B, optimize=metric)
- defaults: the same without a budget (today's single XGBoost with early stopping)
- flaml@B:  FLAML's AutoML().fit(X_train, y_train, task, time_budget=B, metric), run by its
            own venv (`make bench-flaml-deps`: .flaml/.venv, or --flaml-venv PATH) through
            benchmarks/flaml_automl.py: FLAML never enters the project's venv, as MLflow in
            the serving benchmark. Balanced accuracy is a custom FLAML metric.
- plain:    on a table scored by balanced accuracy only, the defaults with optimize left out
            (accuracy: no threshold), scored by balanced accuracy.

Every model of a split sees the same rows. train_model gets the whole table with
test_size=0.2 and the split's seed; its own stratified (classification) 80/20 split is
redone here with the same call, FLAML is fitted on those 80% training rows only, and every
model is scored here by the same scikit-learn metric on the same 20% test rows: ours through
dsba's real prediction path (saved to a temporary registry, loaded, predict_frame, so a
binary target's threshold and calibration apply). Metric: accuracy, balanced accuracy on the
imbalanced table, R² for regression. Splits use seeds 0, 1, 2.

Same CPU: the models of a split run one after the other, each alone on the machine with
--threads threads (0, the default: all cores; XGBoost nthread, FLAML n_jobs); or, with
--concurrent, ours@B and FLAML at the same time with one thread each (one core each on two).
Run it on a quiet machine: a budget is wall-clock time, so a busy machine costs both sides
trials. A table passes when ours − FLAML is above minus the pooled standard deviation of the
two tools' scores over the splits; the average over tables should be at least 0 (issue 15).

The full run (8 tables x 3 splits, 60 s budgets) takes about 55 minutes on 2 cores;
--quick (10 s budgets, one split) about 5. Tables: see benchmarks/quality_tables.py.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.model_selection import train_test_split

from dsba.data.ingestion import Dataset, read_source
from dsba.data.schema import encode_target
from dsba.model.pipeline import register_result
from dsba.model.prediction import predict_frame
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULT_PREFIX  # noqa: E402
from quality_tables import CLASSIFICATION, TABLES, Table, islp_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "benchmarks" / "flaml_automl.py"
TEST_SIZE = 0.2
# Seconds a split costs beyond the two budgets (defaults, refit, FLAML's start), for the
# estimate printed first.
OVERHEAD_SECONDS = 12


def score(metric: str, truth: pd.Series, predicted: list | np.ndarray) -> float:
    """The test metric, the same function for every tool."""
    if metric == "r2":
        return metrics.r2_score(truth.to_numpy(np.float64), np.asarray(predicted, np.float64))
    truth, predicted = truth.astype(str).to_numpy(), np.asarray(predicted).astype(str)
    if metric == "balanced_accuracy":
        return metrics.balanced_accuracy_score(truth, predicted)
    return metrics.accuracy_score(truth, predicted)


def redo_split(result, labelled: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of train_model's training and test rows in labelled: its split, redone with
    the same arguments (positions in place of features shuffle the same way)."""
    schema = result.schema
    y = encode_target(schema, labelled[schema.target])
    positions = np.arange(len(labelled))
    stratify = None if schema.is_regression else y
    return train_test_split(positions, test_size=TEST_SIZE, random_state=seed, stratify=stratify)


class Ours:
    """dsba's side: train, save to a scratch registry, score the test rows by predict_frame."""

    def __init__(self, dataset: Dataset, table: Table, folder: Path, threads: int) -> None:
        self.dataset, self.table, self.threads = dataset, table, threads
        self.registry = ModelRegistry(folder / "registry")
        frame = dataset.frame
        self.labelled = frame[frame[table.target].notna()].reset_index(drop=True)

    def run(self, seed: int, budget: float | None, optimize: str | None) -> dict:
        """Train one model on the split of seed; its test score, seconds and search summary."""
        extra = {"time_budget": budget} if budget else {}
        started = time.perf_counter()
        result = train_model(
            self.dataset.frame,
            self.table.target,
            test_size=TEST_SIZE,
            seed=seed,
            threads=self.threads,
            optimize=optimize,
            **extra,
        )
        seconds = time.perf_counter() - started
        train, test = redo_split(result, self.labelled, seed)
        if len(test) != result.rows["test"]:
            raise RuntimeError(
                f"train_model's test part has {result.rows['test']} rows, not {len(test)}"
            )
        metadata = register_result(
            self.registry,
            "quality",
            result,
            self.dataset,
            test_size=TEST_SIZE,
            seed=seed,
            ran_on="benchmark",
        )
        model = self.registry.load(f"quality:{metadata['version']}")
        rows = self.labelled.iloc[test]
        predicted = predict_frame(model, rows.drop(columns=[self.table.target])).labels
        value = score(self.table.metric, rows[self.table.target], predicted)
        reported = result.evaluation["metrics"].get(self.table.metric)
        if reported is not None and abs(reported - value) > 1e-3:
            print(f"    WARNING: evaluation says {reported:.4f}, the prediction path {value:.4f}")
        return {
            "score": value,
            "seconds": seconds,
            "note": search_note(metadata),
            "split": (train, test),
        }


def search_note(metadata: dict) -> str:
    """What a search chose ("gblinear, 143 trials"), or nothing without a search."""
    search = metadata.get("search")
    if not search:
        return ""
    winner = search.get("winner") or {}
    return f"{winner.get('candidate', '?')}, {search.get('trials_done', '?')} trials"


def start_flaml(python: Path, folder: Path, labelled: pd.DataFrame, split, settings: dict):
    """Start FLAML's side in its venv on the training rows; finish_flaml() collects it."""
    train, test = split
    paths = [folder / name for name in ("train.parquet", "test.parquet", "flaml.parquet")]
    labelled.iloc[train].to_parquet(paths[0])
    labelled.iloc[test].to_parquet(paths[1])
    process = subprocess.Popen(
        [python, WORKER, *map(str, paths), json.dumps(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, paths, time.perf_counter()


def finish_flaml(started, labelled: pd.DataFrame, split, settings: dict) -> dict:
    """Wait for FLAML's side and score its test predictions here."""
    process, paths, began = started
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - began
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"flaml_automl.py failed:\n{stderr[-3000:]}")
    reported = json.loads(lines[-1][len(RESULT_PREFIX) :])
    predicted = pd.read_parquet(paths[2])["prediction"].to_numpy()
    target = labelled.iloc[split[1]][settings["target"]]
    return {
        "score": score(settings["metric"], target, predicted),
        "seconds": seconds,
        "note": reported["estimator"],
        "version": reported["flaml"],
    }


def measure(name: str, table: Table, data: Path, folder: Path, args, python: Path) -> list[dict]:
    """Every tool on every split of one table, printed as it goes; one record per model."""
    csv = folder / f"{name}.csv"
    table.load(data).to_csv(csv, index=False)
    # Read back as an upload is, so ours sees the kinds a user's CSV gets.
    dataset = read_source(str(csv))
    ours = Ours(dataset, table, folder, args.threads)
    classification = table.task == CLASSIFICATION
    print(f"\n{name}: {table.target}, {table.metric} ({table.about})", flush=True)
    records = []
    for seed in range(args.splits):
        runs = {"defaults": ours.run(seed, None, table.metric if classification else None)}
        if table.metric == "balanced_accuracy":
            runs["plain"] = ours.run(seed, None, None)
        settings = {
            "target": table.target,
            "task": table.task,
            "metric": table.metric,
            "budget": args.budget,
            "threads": args.threads,
            "seed": seed,
        }
        split = runs["defaults"]["split"]
        theirs = f"flaml@{args.budget:g}"
        if args.concurrent:
            # Each tool on its own core (--threads 1), both at once: half the wall time.
            flaml_run = start_flaml(python, folder, ours.labelled, split, settings)
        else:
            runs[theirs] = finish_flaml(
                start_flaml(python, folder, ours.labelled, split, settings),
                ours.labelled,
                split,
                settings,
            )
        if args.search:
            runs[f"ours@{args.budget:g}"] = ours.run(
                seed, args.budget, table.metric if classification else "r2"
            )
        if args.concurrent:
            runs[theirs] = finish_flaml(flaml_run, ours.labelled, split, settings)
        cells = []
        for tool, run in runs.items():
            run.pop("split", None)
            note = f"; {run['note']}" if run["note"] else ""
            cells.append(f"{tool} {run['score']:.4f} ({run['seconds']:.1f} s{note})")
            records.append(
                {"table": name, "metric": table.metric, "split": seed, "tool": tool, **run}
            )
        print(f"  split {seed}: " + " | ".join(cells), flush=True)
    return records


def summarise(records: list[dict], ours: str, theirs: str) -> None:
    """Per table: mean ± sd per tool, ours − FLAML against the pooled sd; then the averages."""
    frame = pd.DataFrame(records)
    stats = frame.groupby(["table", "tool"], sort=False)["score"].agg(["mean", "std"]).fillna(0.0)
    rows = []
    for table, group in frame.groupby("table", sort=False):
        cell = {tool: stats.loc[(table, tool)] for tool in group["tool"].unique()}
        sd = float(np.sqrt((cell[ours]["std"] ** 2 + cell[theirs]["std"] ** 2) / 2))
        difference = cell[ours]["mean"] - cell[theirs]["mean"]
        row = {"table": table, "metric": group["metric"].iloc[0]}
        row.update({tool: f"{s['mean']:.4f} ± {s['std']:.4f}" for tool, s in cell.items()})
        row.update(
            {
                f"{ours} − {theirs}": round(difference, 4),
                "pooled sd": round(sd, 4),
                "within 1 sd": "met" if difference >= -sd else "MISSED",
            }
        )
        rows.append(row)
    summary = pd.DataFrame(rows).set_index("table")
    tools = list(frame["tool"].unique())
    rest = [c for c in summary.columns if c not in tools and c != "metric"]
    summary = summary[["metric", *tools, *rest]]
    print("\nmean ± sd over splits")
    print(summary.fillna("").to_string())
    means = frame.groupby(["table", "tool"], sort=False)["score"].mean().unstack()
    # Only tools measured on every table (not "plain") get an average.
    for tool in [t for t in means.dropna(axis=1).columns if t != theirs]:
        average = float((means[tool] - means[theirs]).mean())
        verdict = f" (target >= 0, {'met' if average >= 0 else 'MISSED'})" if tool == ours else ""
        print(f"average over {len(means)} tables, {tool} − {theirs}: {average:+.4f}{verdict}")


def main() -> None:
    """Parse the flags, run every chosen table, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per search (60)")
    parser.add_argument("--splits", type=int, default=3, help="80/20 splits, seeds 0.. (3)")
    parser.add_argument("--tables", help=f"comma-separated subset of: {', '.join(TABLES)}")
    parser.add_argument("--quick", action="store_true", help="smoke run: budget 10, one split")
    parser.add_argument("--threads", type=int, default=0, help="threads per tool (0: all cores)")
    parser.add_argument(
        "--flaml-venv",
        type=Path,
        default=ROOT / ".flaml" / ".venv",
        help="FLAML's venv (default .flaml/.venv, made by `make bench-flaml-deps`)",
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="run ours@B and FLAML at the same time, one thread each (half the wall time)",
    )
    args = parser.parse_args()
    if args.concurrent:
        args.threads = 1
    if args.quick:
        args.budget, args.splits = 10.0, 1
    names = args.tables.split(",") if args.tables else list(TABLES)
    unknown = [name for name in names if name not in TABLES]
    if unknown:
        parser.error(f"unknown tables {unknown}; choose from {', '.join(TABLES)}")
    python = args.flaml_venv / "bin" / "python"
    if not python.exists():
        parser.error(f"no {args.flaml_venv} (`make bench-flaml-deps` makes it)")
    data = islp_data(python)
    args.search = "time_budget" in inspect.signature(train_model).parameters
    budgets = 2 if args.search and not args.concurrent else 1
    estimate = len(names) * args.splits * (budgets * args.budget + OVERHEAD_SECONDS) / 60
    print(
        f"{len(names)} tables x {args.splits} splits, budget {args.budget:g} s, "
        f"{args.threads or os.cpu_count()} threads per tool, "
        + ("ours and FLAML at once" if args.concurrent else "tools one after the other")
        + f"; about {estimate:.0f} min"
    )
    if not args.search:
        print("ours@budget skipped: this train_model has no time_budget (no search yet)")
    records = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            records += measure(name, TABLES[name], data, Path(scratch), args, python)
    theirs = f"flaml@{args.budget:g}"
    summarise(records, f"ours@{args.budget:g}" if args.search else "defaults", theirs)
    version = next(record["version"] for record in records if "version" in record)
    print(f"FLAML {version}; every score: higher is better")


if __name__ == "__main__":
    main()
