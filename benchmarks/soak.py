"""Soak: mixed traffic against gunicorn while a model trains, with a worker SIGKILLed half-way.

`make bench` runs it; it prints and never asserts. What it does:

1. Trains penguins:1 into a temporary registry and stores a bigger synthetic dataset in it.
2. Starts the real gunicorn (2 sync workers, auth on, JSON logs, Prometheus multiprocess).
3. Starts a training job on the big dataset (1 training thread), sized from a quick
   calibration to take about half the run on an idle machine; serving slows it down.
4. Warms up, reads the RSS of the master and both workers, then for --seconds sends mixed
   traffic from --threads client threads, each with its own keep-alive requests.Session, to
   127.0.0.1 only, bounded by time and by --max-requests: single-row predicts (most), model
   list, metadata, 20-row batch predicts and small CSV uploads.
5. Half-way, SIGKILLs one worker; gunicorn starts a new one.
6. Prints requests, errors (connection errors within KILL_WINDOW s of the kill, which the
   killed worker was serving, apart from every other error), p50/p99 latency, what /metrics
   counted, the RSS of the master and of the surviving worker at start and end (growth
   target < 10 %), and the training job's outcome.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsba.auth import hash_token, new_token  # noqa: E402
from dsba.config import Settings  # noqa: E402
from dsba.data.datasets import DatasetStore  # noqa: E402
from dsba.data.ingestion import read_bytes  # noqa: E402
from dsba.service import LocalService  # noqa: E402

KILL_WINDOW = 1.0
RSS_TARGET = 0.10
# Operation mix: (name, weight).
MIX = [("predict", 70), ("batch", 5), ("list", 10), ("metadata", 10), ("upload", 5)]
BIG_FEATURES = 16


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session() -> requests.Session:
    """A keep-alive session that ignores proxies from the environment (loopback only)."""
    s = requests.Session()
    s.trust_env = False
    return s


def big_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """A synthetic binary problem: numeric features, one categorical, noisy logistic target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        rng.normal(size=(rows, BIG_FEATURES)), columns=[f"x{i}" for i in range(BIG_FEATURES)]
    )
    frame["segment"] = rng.choice(["north", "south", "east", "west", "centre"], size=rows)
    logit = frame.x0 - 0.7 * frame.x1 + 0.4 * frame.x2 * frame.x3 + rng.normal(scale=1.5, size=rows)
    frame["target"] = np.where(logit > 0, "yes", "no")
    return frame


def seconds_per_round(frame: pd.DataFrame) -> float:
    """Time 20 boosting rounds on the big frame with one thread (what the job will use)."""
    import xgboost as xgb

    features = frame.drop(columns=["target"]).assign(segment=lambda f: f.segment.astype("category"))
    matrix = xgb.DMatrix(
        features, label=(frame.target == "yes").astype(int), enable_categorical=True
    )
    started = time.perf_counter()
    xgb.train(
        {"max_depth": 6, "nthread": 1, "tree_method": "hist", "objective": "binary:logistic"},
        matrix,
        20,
    )
    return (time.perf_counter() - started) / 20


@dataclass
class Result:
    """One request: what, when, and how it ended."""

    op: str
    started: float
    ended: float
    status: int | None
    error: str | None = None


@dataclass
class Load:
    """Shared state of the load generator."""

    base: str
    reader: str
    writer: str
    records: list[dict]
    deadline: float
    max_requests: int
    results: list[Result] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def budget_left(self) -> bool:
        """True while time and the request budget last."""
        with self.lock:
            return time.monotonic() < self.deadline and len(self.results) < self.max_requests


def small_csv(rng: random.Random) -> bytes:
    """A 200-row CSV that differs on every call (so each upload is a new dataset)."""
    rows = ["a,b,c,target"] + [
        f"{rng.random():.4f},{rng.randint(0, 9)},{rng.choice('xyz')},{rng.choice('pq')}"
        for _ in range(200)
    ]
    return ("\n".join(rows) + "\n").encode()


def send(load: Load, http: requests.Session, op: str, rng: random.Random) -> requests.Response:
    """Send one request of kind op."""
    reader = {"Authorization": f"Bearer {load.reader}"}
    if op == "predict":
        body = {"model": "penguins", "records": [rng.choice(load.records)]}
        return http.post(f"{load.base}/api/predict", json=body, headers=reader, timeout=30)
    if op == "batch":
        body = {"model": "penguins", "records": rng.sample(load.records, 20)}
        return http.post(f"{load.base}/api/predict", json=body, headers=reader, timeout=30)
    if op == "list":
        return http.get(f"{load.base}/api/models", headers=reader, timeout=30)
    if op == "metadata":
        return http.get(f"{load.base}/api/models/penguins/metadata", headers=reader, timeout=30)
    files = {"file": (f"small-{rng.randrange(10**9)}.csv", small_csv(rng), "text/csv")}
    writer = {"Authorization": f"Bearer {load.writer}"}
    return http.post(f"{load.base}/api/datasets", files=files, headers=writer, timeout=30)


def client(load: Load, seed: int) -> None:
    """Send requests back to back until the budget runs out; record every outcome."""
    rng = random.Random(seed)
    names, weights = zip(*MIX, strict=True)
    http = session()
    while load.budget_left():
        op = rng.choices(names, weights)[0]
        started = time.monotonic()
        try:
            response = send(load, http, op, rng)
            result = Result(op, started, time.monotonic(), response.status_code)
        except requests.RequestException as exc:
            result = Result(op, started, time.monotonic(), None, type(exc).__name__)
            http = session()
        with load.lock:
            load.results.append(result)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (None once it is gone)."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.NoSuchProcess:
        return None


def workers_of(master: int) -> list[int]:
    """The gunicorn master's worker pids."""
    try:
        return sorted(child.pid for child in psutil.Process(master).children())
    except psutil.NoSuchProcess:
        return []


def wait_for(predicate, timeout: float, step: float = 0.1) -> bool:
    """Poll predicate until it is true or timeout passes."""
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        if predicate():
            return True
        time.sleep(step)
    return False


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# What a Prometheus scraper presents for /metrics.
METRICS_TOKEN = "soak-scraper"


def start_gunicorn(workdir: Path, registry: Path, tokens: str, port: int) -> subprocess.Popen:
    """The real gunicorn with 2 workers, auth on, one training thread per job."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSBA_", "PROMETHEUS_", "WEB_CONC"))
    }
    env.update(
        DSBA_BIND=f"127.0.0.1:{port}",
        DSBA_REGISTRY_DIR=str(registry),
        DSBA_API_TOKENS=tokens,
        DSBA_TRAIN_THREADS="1",
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
        DSBA_METRICS_TOKEN=METRICS_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    with (workdir / "gunicorn.out").open("wb") as out, (workdir / "gunicorn.err").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )


def prepare(workdir: Path, registry: Path, rows: int) -> tuple[list[dict], str, float]:
    """Train penguins:1, store the big dataset; return predict records, its id, s/round."""
    penguins = palmerpenguins.load_penguins()
    csv = workdir / "penguins.csv"
    penguins.to_csv(csv, index=False)
    LocalService(Settings(registry_dir=registry)).train(str(csv), target="species", name="penguins")
    records = penguins.drop(columns=["species"]).dropna().to_dict(orient="records")
    frame = big_frame(rows)
    raw = frame.to_csv(index=False).encode()
    dataset = read_bytes(raw, source="upload:big.csv", filename="big.csv")
    stored = DatasetStore(registry).save(dataset, "big.csv")
    return records, stored["id"], seconds_per_round(frame)


@dataclass
class Run:
    """Everything the report prints."""

    args: argparse.Namespace
    load: Load
    elapsed: float = 0.0
    kill_t: float | None = None
    victim: int = 0
    master: int = 0
    start_pids: list[int] = field(default_factory=list)
    end_pids: list[int] = field(default_factory=list)
    rss_start: dict[int, float | None] = field(default_factory=dict)
    rss_end: dict[int, float | None] = field(default_factory=dict)
    master_before_kill: float | None = None
    counted: float = 0.0
    job: dict = field(default_factory=dict)
    job_seconds: float = 0.0
    rounds: int = 0


def main() -> None:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="traffic duration (default 60)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="request budget")
    parser.add_argument("--train-rows", type=int, default=100_000, help="rows of the training job")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dsba-soak-"))
    registry = workdir / "registry"
    reader, writer = new_token(), new_token()
    tokens = f"soak-reader:reader:{hash_token(reader)},soak-writer:writer:{hash_token(writer)}"
    records, dataset_id, per_round = prepare(workdir, registry, args.train_rows)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(workdir, registry, tokens, port)
    http = session()
    job_pid = None
    try:
        if not wait_for(lambda: _healthy(http, base), 60):
            print(f"soak: gunicorn did not start; see {workdir / 'gunicorn.err'}")
            sys.exit(1)
        wait_for(lambda: len(workers_of(server.pid)) == 2, 20)

        rounds = int(min(5000, max(50, 0.5 * args.seconds / per_round)))
        params = {"n_estimators": rounds, "early_stopping_rounds": 1000, "learning_rate": 0.02}
        job = http.post(
            f"{base}/api/train",
            json={"dataset_id": dataset_id, "target": "target", "name": "big", "params": params},
            headers={"Authorization": f"Bearer {writer}"},
            timeout=60,
        ).json()
        job_started = time.monotonic()

        # Warm-up: every worker loads the model and imports what it needs before RSS is read.
        _run_clients(
            Load(base, reader, writer, records, time.monotonic() + 3, 400), args.threads, 0
        )
        deadline = time.monotonic() + args.seconds
        run = Run(args, Load(base, reader, writer, records, deadline, args.max_requests))
        run.master, run.start_pids, run.rounds = server.pid, workers_of(server.pid), rounds
        run.rss_start = {pid: rss_mb(pid) for pid in [server.pid, *run.start_pids]}
        run.victim = run.start_pids[0]
        counted_before = _metrics_total(http, base)

        def killer() -> None:
            time.sleep(args.seconds / 2)
            run.master_before_kill = rss_mb(server.pid)
            run.kill_t = time.monotonic()
            os.kill(run.victim, signal.SIGKILL)

        kill_thread = threading.Thread(target=killer, daemon=True)
        began = time.monotonic()
        kill_thread.start()
        _run_clients(run.load, args.threads, seed=1)
        run.elapsed = time.monotonic() - began
        kill_thread.join()

        wait_for(lambda: len(workers_of(server.pid)) == 2, 20)
        run.end_pids = workers_of(server.pid)
        run.rss_end = {pid: rss_mb(pid) for pid in [server.pid, *run.end_pids]}
        run.counted = _metrics_total(http, base) - counted_before
        job_pid = _job_record(http, base, reader, job["id"]).get("pid")
        wait_for(
            lambda: _job_record(http, base, reader, job["id"])["state"] in ("succeeded", "failed"),
            3 * args.seconds,
            0.5,
        )
        run.job = _job_record(http, base, reader, job["id"])
        run.job_seconds = time.monotonic() - job_started
        _print_report(run)
    finally:
        _stop(server)
        if job_pid and psutil.pid_exists(job_pid):
            # The job outlived the run (slow machine): ours to stop before its folder goes.
            os.kill(job_pid, signal.SIGKILL)
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _healthy(http: requests.Session, base: str) -> bool:
    try:
        return http.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _run_clients(load: Load, threads: int, seed: int) -> None:
    pool = [threading.Thread(target=client, args=(load, seed + i)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def _job_record(http: requests.Session, base: str, token: str, job_id: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    return http.get(f"{base}/api/jobs/{job_id}", headers=headers, timeout=30).json()


def _metrics_total(http: requests.Session, base: str) -> float:
    """Requests counted by /metrics over all workers, dead ones included (/metrics aside)."""
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = http.get(f"{base}/metrics", headers=headers, timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "dsba_http_requests_total" and sample.labels.get("route") != "/metrics"
    )


def _growth(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "n/a"
    change = (after - before) / before
    verdict = "met" if change < RSS_TARGET else "MISSED"
    return f"{before:.1f} -> {after:.1f} MiB ({change:+.1%}; target < {RSS_TARGET:.0%}: {verdict})"


def _near_kill(result: Result, kill_t: float | None) -> bool:
    """A connection error that ended within KILL_WINDOW after the kill."""
    return (
        kill_t is not None
        and result.status is None
        and kill_t - 0.05 <= result.ended <= kill_t + KILL_WINDOW
    )


def _print_report(run: Run) -> None:
    results = run.load.results
    ok = [r for r in results if r.status is not None and 200 <= r.status < 300]
    failed = [r for r in results if not (r.status is not None and 200 <= r.status < 300)]
    by_kill = [r for r in failed if _near_kill(r, run.kill_t)]
    others = [r for r in failed if not _near_kill(r, run.kill_t)]
    by_op = {name: sum(1 for r in results if r.op == name) for name, _ in MIX}
    latencies = [1000 * (r.ended - r.started) for r in ok]
    predict = [1000 * (r.ended - r.started) for r in ok if r.op == "predict"]
    survivor = next((pid for pid in run.start_pids if pid != run.victim), None)
    kill_at = (run.kill_t or 0) - (run.load.deadline - run.args.seconds)

    print(
        f"soak: {run.elapsed:.1f} s of traffic, {run.args.threads} client threads, "
        f"2 gunicorn workers, a training job on {run.args.train_rows:,} rows alongside"
    )
    mix = ", ".join(f"{name} {count:,}" for name, count in by_op.items())
    print(f"requests: {len(results):,} ({mix}) = {len(results) / run.elapsed:.1f}/s")
    print(
        f"errors: {len(by_kill)} from the SIGKILL of worker {run.victim} at t={kill_at:.1f} s "
        f"(connection errors ending within {KILL_WINDOW:.0f} s of it), {len(others)} others"
    )
    for r in others[:5]:
        print(f"  other error: {r.op} -> {r.status or r.error}")
    if latencies:
        print(
            f"latency (all successful): p50 {percentile(latencies, 50):.1f} ms, "
            f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms"
        )
    if predict:
        print(
            f"latency (single-row predict): p50 {percentile(predict, 50):.1f} ms, "
            f"p99 {percentile(predict, 99):.1f} ms"
        )
    print(
        f"/metrics: {run.counted:,.0f} requests counted during the run (the killed worker's "
        f"included); {len(ok):,} succeeded at the client"
    )
    master = _growth(run.rss_start.get(run.master), run.rss_end.get(run.master))
    print(f"RSS master {run.master}: {master}")
    if run.master_before_kill:
        print(f"  master just before the kill: {run.master_before_kill:.1f} MiB")
    surviving = _growth(run.rss_start.get(survivor), run.rss_end.get(survivor))
    print(f"RSS surviving worker {survivor}: {surviving}")
    if run.rss_start.get(run.victim):
        print(f"RSS killed worker {run.victim}: {run.rss_start[run.victim]:.1f} MiB at start")
    for pid in [pid for pid in run.end_pids if pid not in run.start_pids]:
        print(
            f"RSS respawned worker {pid}: {run.rss_end.get(pid) or 0:.1f} MiB at end (new process)"
        )
    job, progress = run.job, run.job.get("progress") or {}
    outcome = f", model {job['model']}" if job.get("model") else ""
    outcome += f", error: {job['error']}" if job.get("error") else ""
    print(
        f"training job: {job.get('state')} after {run.job_seconds:.1f} s (best round "
        f"{progress.get('round')}, {run.rounds} asked{outcome})"
    )


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
