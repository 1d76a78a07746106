"""Monitoring report over a large prediction log: wall time and peak memory.

`make bench` runs it; it prints and never asserts. A model is trained on a synthetic table of
10 features (7 numeric, 3 categorical); then 10,000,000 logged rows are written in the store
layout of dsba/monitoring/layout.py, as the server's log writer leaves them: 5 UTC days, 8
files per day (one per writer), the features drawn from the training distribution with a
drift on the last day, the predicted class and probabilities from a logistic of the features,
and feedback labels for 5% of the ids. A fresh process then builds the monitoring report over
the whole window (all 10,000,000 rows) and reports its wall time and its peak resident memory
(ru_maxrss, imports included). Targets: at most 10 s and under 1 GiB on a 2-core machine.

The other half: single-row /api/predict with the prediction log on against the log off, in
the same run. Two gunicorns from gunicorn.conf.py serve the same trained penguins model with
production's settings (as benchmarks/serve.py runs them), one with DSBA_PREDICTION_LOG=off;
the load generator drives them in interleaved rounds. Target: log on >= 0.95x log off.
--part report|predict runs one half only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report, rss_mb, run_worker, stopwatch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROWS = 10_000_000
DAYS, FILES_PER_DAY = 5, 8
NUMERIC, CATEGORIES = 7, {"region": 12, "plan": 4, "device": 40}
START = datetime(2026, 1, 5, tzinfo=UTC)
TIME_TARGET, MEMORY_TARGET_MB = 10.0, 1024.0
LOG_ON_TARGET = 0.95
SEED = 7


def features(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    """Feature columns: numeric with a few missing values, categories as text."""
    columns: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        values = rng.normal(loc=i + (shift if i == 0 else 0.0), scale=1 + i / 3, size=n)
        values[rng.random(n) < 0.01] = np.nan
        columns[f"num_{i}"] = values
    for name, size in CATEGORIES.items():
        weights = np.arange(size, 0, -1, dtype=float)
        columns[name] = np.array([f"{name}_{k}" for k in range(size)])[
            rng.choice(size, size=n, p=weights / weights.sum())
        ]
    return columns


def logit(columns: dict[str, np.ndarray]) -> np.ndarray:
    """The signal behind the target: two numeric features and one category."""
    base = np.nan_to_num(columns["num_0"]) - 0.5 * np.nan_to_num(columns["num_1"] - 1)
    return base + (columns["plan"] == "plan_0") - 0.3


def train(root: Path) -> None:
    """Train bench:1 on 20,000 rows of the same distribution."""
    from dsba.config import Settings
    from dsba.data.ingestion import Dataset
    from dsba.service import LocalService

    rng = np.random.default_rng(SEED)
    columns = features(rng, 20_000)
    frame = pd.DataFrame(columns)
    frame["churn"] = np.where(rng.random(20_000) < 1 / (1 + np.exp(-logit(columns))), "yes", "no")
    service = LocalService(Settings(registry_dir=root, train_threads=2))
    dataset = Dataset(frame, "0" * 64, "bench.csv", "csv", 1)
    service.train(dataset, target="churn", name="bench", params={"n_estimators": 50})


def write_log(root: Path, rows: int) -> None:
    """rows logged predictions of bench:1 over DAYS days, FILES_PER_DAY files a day."""
    from dsba.monitoring import layout

    rng = np.random.default_rng(SEED + 1)
    per_file = rows // (DAYS * FILES_PER_DAY)
    labels, label_ids = [], []
    for day in range(DAYS):
        folder = layout.log_dir(root, "bench", 1) / layout.day_name((START + timedelta(day)).date())
        folder.mkdir(parents=True, exist_ok=True)
        for writer in range(FILES_PER_DAY):
            columns = features(rng, per_file, shift=0.5 if day == DAYS - 1 else 0.0)
            p_yes = 1 / (1 + np.exp(-logit(columns)))
            day_us = int((START + timedelta(day)).timestamp()) * 1_000_000
            micros = day_us + np.sort(rng.integers(0, 86_400_000_000, per_file))
            ts = pa.array(micros).cast(pa.timestamp("us", tz="UTC"))
            ids = pc.binary_join_element_wise(
                f"host-{writer}-d{day}-", pc.cast(pa.array(np.arange(per_file)), pa.string()), ""
            )
            table = {
                layout.ID: ids,
                layout.TS: ts,
                layout.MODEL: pa.array(["bench"] * per_file),
                layout.VERSION: pa.array(np.ones(per_file, dtype=np.int64)),
                layout.REQUEST_ID: ids,
                layout.SOURCE: pa.array(["api"] * per_file),
            }
            for name, values in columns.items():
                table[layout.FEATURE_PREFIX + name] = pa.array(values, from_pandas=True)
            table[layout.PREDICTION] = pa.array(np.where(p_yes >= 0.5, "yes", "no"))
            table[layout.PROBA_PREFIX + "no"] = pa.array(1 - p_yes)
            table[layout.PROBA_PREFIX + "yes"] = pa.array(p_yes)
            pq.write_table(pa.table(table), folder / f"host-{writer}-1-0{layout.SUFFIX}")
            chosen = rng.random(per_file) < 0.05
            label_ids.append(ids.filter(pa.array(chosen)))
            truth = rng.random(per_file) < p_yes
            labels.append(pa.array(np.where(truth, "yes", "no")[chosen]))
    feedback = layout.feedback_dir(root, "bench") / layout.day_name(START.date())
    feedback.mkdir(parents=True, exist_ok=True)
    ids = pa.concat_arrays(label_ids)
    received = pa.array([START + timedelta(days=DAYS)] * len(ids), pa.timestamp("us", tz="UTC"))
    table = pa.table({"id": ids, "label": pa.concat_arrays(labels), "received_at": received})
    pq.write_table(table, feedback / f"host-0-1-0{layout.SUFFIX}")


def worker(root: Path) -> None:
    """Build the report over every logged row; report its time and this process's peak."""
    from dsba.config import Settings
    from dsba.service import LocalService

    service = LocalService(Settings(registry_dir=root))
    result = {"baseline_mb": rss_mb()}
    with stopwatch(result):
        built = service.monitoring("bench:1", since=START, until=START + timedelta(days=DAYS))
    result.update(rows=built["window"]["rows"], status=built["status"])
    result["drifted"] = [f["name"] for f in built["features"] if f["drifted"]]
    result["live_rows"] = (built["performance"]["live"] or {}).get("rows")
    report(result)


def predict_overhead(args: argparse.Namespace) -> None:
    """Single-row predict req/s with the prediction log on and off, in interleaved rounds."""
    import json
    import shutil

    import serve

    workdir = Path(tempfile.mkdtemp(prefix="dsba-bench-log-"))
    registry = workdir / "registry"
    rows = serve.train_model(registry, workdir)
    single = json.dumps({"model": "penguins", "records": rows[:1]}).encode()
    servers, urls = [], {}
    try:
        for label, switch in (("log off", "off"), ("log on", "on")):
            port = serve.free_port()
            env = {**serve.production_env(registry), "DSBA_PREDICTION_LOG": switch}
            log = workdir / f"gunicorn-{switch}.log"
            ready = ("/healthz", 200)
            servers.append(serve.start_server("serve_app:app", port, 2, env, log, ready))
            urls[label] = (f"http://127.0.0.1:{port}/api/predict", single)
        serve.check_answers([(url, body, "predictions") for url, body in urls.values()])
        figures = serve.drive_all(urls, args, workdir)
        logged = sum(1 for _ in (registry / "monitoring").rglob("*.parquet"))
    finally:
        for server in servers:
            serve.stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)
    off, on = figures["log off"], figures["log on"]
    ratio = on["rps"] / off["rps"]
    print(
        f"single-row predict, 2 sync workers, {args.connections} connections, "
        f"{args.seconds:g} s each in {args.rounds} interleaved rounds (medians)"
    )
    for label, stats in figures.items():
        print(
            f"  {label:<8} {stats['rps']:8.1f} req/s  p50 {stats['p50_ms']:6.2f} ms  "
            f"p99 {stats['p99_ms']:6.2f} ms  errors {stats['errors']:g}"
        )
    print(
        f"log on / log off: {ratio:.3f}x (target >= {LOG_ON_TARGET}x, "
        f"{'met' if ratio >= LOG_ON_TARGET else 'MISSED'}); {logged} log files written"
    )


def main() -> None:
    """Time predict with the log on and off; build the store once, time the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--part", choices=("both", "predict", "report"), default="both")
    parser.add_argument("--seconds", type=float, default=12.0, help="per server, all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.part in ("both", "predict"):
        predict_overhead(args)
    if args.part == "predict":
        return
    with tempfile.TemporaryDirectory(prefix="dsba-bench-monitoring-") as folder:
        root = Path(folder)
        timing: dict = {}
        with stopwatch(timing, "build"):
            train(root)
            write_log(root, args.rows)
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 2**20
        print(
            f"log: {args.rows:,} rows x 10 features, {size:.0f} MiB of Parquet, built in "
            f"{timing['build']:.0f} s"
        )
        result = run_worker(Path(__file__), "--worker", str(root))
    seconds, peak = result["seconds"], result["peak_mb"]
    print(
        f"report over {result['rows']:,} rows: {seconds:.2f} s wall "
        f"({result['cpu_seconds']:.2f} s CPU), target <= {TIME_TARGET:.0f} s: "
        f"{'met' if seconds <= TIME_TARGET else 'MISSED'}"
    )
    print(
        f"peak memory of the report process: {peak:.0f} MiB (after imports "
        f"{result['baseline_mb']:.0f} MiB), target < {MEMORY_TARGET_MB:.0f} MiB: "
        f"{'met' if peak < MEMORY_TARGET_MB else 'MISSED'}"
    )
    print(
        f"status {result['status']}, drifted {result['drifted']}, live labels {result['live_rows']}"
    )


if __name__ == "__main__":
    main()
