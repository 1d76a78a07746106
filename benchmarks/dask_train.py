"""Training time and peak memory: local training vs. xgboost.dask on two local workers.

Prints and never asserts. One synthetic table (ROWS rows: five numeric columns, a categorical
string column with 12 levels, an integer column and a binary string target with signal) is
written to a Parquet file exactly as the dataset store writes one. Then:

- local: a fresh Python process does what a job process does without Dask: pandas reads the
  Parquet (DatasetStore.load) and dsba.model.training.train_model trains with threads=0 (all cores).
- dask: a LocalCluster of two worker processes with one thread each (same two cores) is
  started first and left idle; a fresh Python process, the client, does what a job process
  does with DSBA_DASK_SCHEDULER set: connect, then dsba.model.dask_training.train_model_dask
  (the workers read the Parquet, infer the schema, prepare, split, train, predict the test
  part; the client gathers the test predictions and evaluates).

Time is the wall clock of read + train + evaluate (process start, imports and cluster start
excluded). Memory is resident set size (RSS), in MiB:
- "peak" of any process is the kernel's high-water mark, VmHWM in /proc/<pid>/status, read
  just before the process ends or is stopped (imports included). ru_maxrss is not used: a
  child inherits its parent's mark across fork and exec, which here holds the generated table.
- "after imports" is a process's RSS once dsba and its libraries are imported.
- worker "idle" is its RSS before training; "sum" is the highest total of the two workers'
  RSS, sampled by psutil every 50 ms while the client runs.
The scheduler runs inside this script's process and is not counted (it holds no data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROWS = 2_500_000
SEED = 42
PARAMS = {"n_estimators": 50, "early_stopping_rounds": 10}
RESULT = "RESULT "


def generate(path: Path, rows: int) -> None:
    """Write the synthetic table to path as DatasetStore.save would (Parquet, no index)."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(rows, 5)).astype(np.float64)
    levels = np.array([f"segment_{i:02d}" for i in range(12)])
    segment = rng.integers(0, len(levels), rows)
    visits = rng.poisson(3, rows)
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + (segment % 4 - 1.5) + 0.2 * visits
    label = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "churn", "stay")
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame = frame.assign(segment=levels[segment], visits=visits, label=label)
    frame.to_parquet(path, index=False)


def peak_mb(pid: int | str = "self") -> float:
    """The kernel's peak RSS mark of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(process: psutil.Process) -> float:
    """User plus system CPU seconds a process has used so far."""
    times = process.cpu_times()
    return times.user + times.system


def measured(train) -> dict:
    """Run train() in this process; return its wall and CPU seconds and memory marks."""
    me = psutil.Process()
    after_imports, cpu = me.memory_info().rss / 2**20, cpu_seconds(me)
    started = time.perf_counter()
    result, extra = train()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu_seconds(me) - cpu,
        "after_imports_mb": after_imports,
        "peak_mb": peak_mb(),
        "accuracy": result.evaluation["metrics"]["accuracy"],
        "rounds": result.best_iteration + 1,
        **extra,
    }


def run_local(path: Path) -> dict:
    """The job process without Dask: load the frame (as DatasetStore.load), train, evaluate."""
    from dsba.model.training import train_model

    return measured(
        lambda: (train_model(pd.read_parquet(path), "label", params=PARAMS, seed=SEED), {})
    )


def run_dask_client(path: Path, address: str) -> dict:
    """The job process with Dask: connect, then train on the cluster."""
    from dsba.model.dask_training import connect, train_model_dask

    def train():
        with connect(address) as client:
            result, where = train_model_dask(client, path, "label", params=PARAMS, seed=SEED)
        return result, {"partitions": where["partitions"], "workers": where["workers"]}

    return measured(train)


def child(*args: str) -> dict:
    """Run this script in a fresh process with args and return the dict it printed."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT) :])


class SumSampler(threading.Thread):
    """Samples the total RSS of some processes every interval and keeps its highest value."""

    def __init__(self, procs: list[psutil.Process], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.procs, self.interval, self.done = procs, interval, threading.Event()
        self.peak = 0.0

    def run(self) -> None:
        """Sample until stopped."""
        while not self.done.wait(self.interval):
            total = sum(p.memory_info().rss for p in self.procs) / 2**20
            self.peak = max(self.peak, total)


def run_dask(path: Path) -> dict:
    """Start two local workers, run the client in a fresh process, measure the workers."""
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        procs = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
        idle = [p.memory_info().rss / 2**20 for p in procs]
        cpu = [cpu_seconds(p) for p in procs]
        sampler = SumSampler(procs)
        sampler.start()
        result = child("dask-client", str(path), cluster.scheduler_address)
        sampler.done.set()
        sampler.join()
        result["workers_idle_mb"] = idle
        result["workers_peak_mb"] = [peak_mb(p.pid) for p in procs]
        result["workers_sum_peak_mb"] = sampler.peak
        result["workers_cpu_seconds"] = sum(cpu_seconds(p) for p in procs) - sum(cpu)
    return result


def report(local: dict, dask: dict) -> None:
    """Print both runs and the dask/local ratios."""
    print(
        f"local (1 process, all cores): {local['seconds']:.1f} s wall, "
        f"{local['cpu_seconds']:.1f} s CPU; peak RSS {local['peak_mb']:,.0f} MiB "
        f"(after imports {local['after_imports_mb']:,.0f}); accuracy {local['accuracy']:.4f}, "
        f"{local['rounds']} rounds"
    )
    workers_cpu = dask["workers_cpu_seconds"]
    print(
        f"dask ({dask['workers']} workers x 1 thread, {dask['partitions']} partitions): "
        f"{dask['seconds']:.1f} s wall, {dask['cpu_seconds']:.1f} s CPU in the client + "
        f"{workers_cpu:.1f} s in the workers; accuracy {dask['accuracy']:.4f}, "
        f"{dask['rounds']} rounds"
    )
    workers = ", ".join(
        f"{peak:,.0f} (idle {idle:,.0f})"
        for peak, idle in zip(dask["workers_peak_mb"], dask["workers_idle_mb"], strict=True)
    )
    print(
        f"  peak RSS MiB: client {dask['peak_mb']:,.0f} (after imports "
        f"{dask['after_imports_mb']:,.0f}); workers {workers}; "
        f"workers' sum {dask['workers_sum_peak_mb']:,.0f}"
    )
    largest = max(dask["peak_mb"], *dask["workers_peak_mb"])
    everything = dask["peak_mb"] + dask["workers_sum_peak_mb"]
    print(
        f"ratios dask/local: wall time {dask['seconds'] / local['seconds']:.2f}x, "
        f"CPU time {(dask['cpu_seconds'] + workers_cpu) / local['cpu_seconds']:.2f}x; "
        f"peak RSS of the job process {dask['peak_mb'] / local['peak_mb']:.2f}x, "
        f"of the largest process {largest / local['peak_mb']:.2f}x, "
        f"of all processes {everything / local['peak_mb']:.2f}x"
    )


def main() -> None:
    """Generate the data, measure both ways (repeat times each), print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        generate(path, args.rows)
        size = path.stat().st_size / 2**20
        print(f"dataset: {args.rows:,} rows x 8 columns, Parquet {size:.1f} MiB")
        for run in range(1, args.repeat + 1):
            print(f"run {run}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
            report(child("local", str(path)), run_dask(path))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "local":
        print(RESULT + json.dumps(run_local(Path(sys.argv[2]))), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "dask-client":
        print(RESULT + json.dumps(run_dask_client(Path(sys.argv[2]), sys.argv[3])), flush=True)
    else:
        main()
