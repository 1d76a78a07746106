"""Serving speed: single-row predict against a JSON echo endpoint on the same gunicorn.

`make bench` runs it; it prints and never asserts. A penguins model (default parameters) is
trained into a temporary registry; gunicorn then serves benchmarks/serve_app.py (the real app
from create_app() with validation, JSON access logs and Prometheus metrics on, plus a
/bench/echo route that answers its parsed JSON body) with 2 sync workers, as in production.
The same load generator drives each endpoint with the same connection count, in interleaved
rounds (echo, predict, mlflow, batch, then again), and each figure is the median over rounds,
so a busy machine weighs on every endpoint alike:

- echo:    POST /bench/echo            the single-row request body, echoed back
- predict: POST /api/predict           {model, records: [one row]} -> label + probabilities
- mlflow:  POST /api/models/<ref>/invocations  dataframe_split with one row
- batch:   POST /api/predict           1,000 rows per request (reported in rows/s)

The load generator is wrk (Debian package `wrk`) when it is on PATH, otherwise a Python one:
N processes, each with one http.client connection, sending back to back (gunicorn's sync
workers close every connection, so both reconnect per request). --env K=V passes extra
environment to the server (e.g. --env OMP_NUM_THREADS=1).
Figures for MLflow 3.17's scoring server on this kind of machine (from issue 3): ~50-150
single-row requests/s and ~48,000 rows/s in 1,000-row batches.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import palmerpenguins

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_SINGLE_RPS = (50, 150)
MLFLOW_BATCH_ROWS_PER_S = 48_000
TARGET_ECHO_RATIO, TARGET_P99_MS, TARGET_MLFLOW_X, TARGET_BATCH_X = 0.6, 10.0, 20, 3
BATCH_ROWS = 1_000


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_model(registry: Path, workdir: Path) -> list[dict]:
    """Train the penguins model into registry; return the feature rows without the target."""
    from dsba.config import Settings
    from dsba.service import LocalService

    frame = palmerpenguins.load_penguins()
    csv = workdir / "penguins.csv"
    frame.to_csv(csv, index=False)
    LocalService(Settings(registry_dir=registry)).train(str(csv), target="species", name="penguins")
    features = frame.drop(columns=["species"])
    return json.loads(features.to_json(orient="records"))


def start_server(
    registry: Path, workdir: Path, port: int, workers: int, extra_env: dict[str, str]
) -> subprocess.Popen:
    """Start gunicorn with the benchmark app; wait until it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSBA_", "PROMETHEUS_"))}
    env.update(
        DSBA_REGISTRY_DIR=str(registry),
        DSBA_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers),
        PYTHONPATH=str(ROOT / "benchmarks"),
    )
    env.update(extra_env)
    log = (workdir / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "serve_app:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {workdir / 'gunicorn.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not become healthy within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop gunicorn and its workers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wrk(url: str, body: bytes, connections: int, seconds: float, workdir: Path) -> dict:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"seconds\\": %f, '
        '\\"p50\\": %f, \\"p99\\": %f, \\"errors\\": %d, \\"non2xx\\": %d}\\n",\n'
        "    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,\n"
        "    latency:percentile(99) / 1e3,\n"
        "    summary.errors.connect + summary.errors.read + summary.errors.write\n"
        "    + summary.errors.timeout, summary.errors.status))\n"
        "end\n"
    )
    threads = min(connections, 2)
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON "))
    stats = json.loads(line[5:])
    return {
        "rps": stats["requests"] / stats["seconds"],
        "p50_ms": stats["p50"],
        "p99_ms": stats["p99"],
        "errors": stats["errors"] + stats["non2xx"],
    }


def _python_client(args: tuple) -> list[float]:
    host, port, path, body, until = args
    latencies = []
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        # gunicorn's sync workers close each connection: reconnect as wrk does.
        conn.close()
        latencies.append(time.perf_counter() - started if ok else -1.0)
    return latencies


def _python(url: str, body: bytes, connections: int, seconds: float, workdir: Path) -> dict:
    match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    started = time.monotonic()
    until = started + seconds
    with multiprocessing.Pool(connections) as pool:
        results = pool.map(_python_client, [(host, port, path, body, until)] * connections)
    elapsed = time.monotonic() - started
    latencies = sorted(x for chunk in results for x in chunk if x >= 0)
    errors = sum(1 for chunk in results for x in chunk if x < 0)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {"rps": len(latencies) / elapsed, "p50_ms": pct(50), "p99_ms": pct(99), "errors": errors}


def drive(url: str, body: bytes, connections: int, seconds: float, workdir: Path) -> dict:
    """Send POSTs of body to url for seconds over connections; return req/s and latencies."""
    run = _wrk if shutil.which("wrk") else _python
    return run(url, body, connections, seconds, workdir)


def drive_all(targets: dict[str, tuple[str, bytes]], options, workdir: Path) -> dict[str, dict]:
    """Measure every target in interleaved rounds; keep each figure's median over the rounds.

    Interleaving spreads whatever else the machine is doing over all targets alike, so the
    ratios stay fair on a busy machine.
    """
    n, per_round = options.connections, options.seconds / options.rounds
    for url, body in targets.values():
        drive(url, body, n, 1.0, workdir)  # warm-up: model cache, lazy imports
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for _ in range(options.rounds):
        for name, (url, body) in targets.items():
            runs[name].append(drive(url, body, n, per_round, workdir))
    return {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }


def check_answers(base: str, single: bytes, batch: bytes) -> None:
    """Make sure each endpoint answers 200 with what it should before timing it."""
    match = re.match(r"http://([^:/]+):(\d+)", base)
    for path, body, key in (
        ("/bench/echo", single, "echo"),
        ("/api/predict", single, "predictions"),
        ("/api/predict", batch, "predictions"),
    ):
        conn = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=30)
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        text = response.read()
        if response.status != 200 or key not in json.loads(text):
            raise RuntimeError(f"{path} answered {response.status}: {text[:300]!r}")


def verdict(ok: bool) -> str:
    """'met' or 'MISSED'."""
    return "met" if ok else "MISSED"


def main() -> None:
    """Train, serve, drive each endpoint, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per endpoint, all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="extra server environment"
    )
    options = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in options.env)
    workdir = Path(tempfile.mkdtemp(prefix="dsba-bench-serve-"))
    registry = workdir / "registry"
    rows = train_model(registry, workdir)
    single = json.dumps({"model": "penguins", "records": rows[:1]}).encode()
    batch_rows = (rows * (BATCH_ROWS // len(rows) + 1))[:BATCH_ROWS]
    batch = json.dumps({"model": "penguins", "records": batch_rows}).encode()
    split = json.dumps(
        {"dataframe_split": {"columns": list(rows[0]), "data": [list(rows[0].values())]}}
    ).encode()
    port = free_port()
    proc = start_server(registry, workdir, port, options.workers, extra_env)
    base = f"http://127.0.0.1:{port}"
    try:
        check_answers(base, single, batch)
        figures = drive_all(
            {
                "echo": (f"{base}/bench/echo", single),
                "predict": (f"{base}/api/predict", single),
                "mlflow": (f"{base}/api/models/penguins/invocations", split),
                "batch": (f"{base}/api/predict", batch),
            },
            options,
            workdir,
        )
        echo, predict, mlflow, batched = (
            figures[k] for k in ("echo", "predict", "mlflow", "batch")
        )
    finally:
        stop_server(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    generator = "wrk" if shutil.which("wrk") else "python http.client"
    n, secs = options.connections, options.seconds
    ratio = predict["rps"] / echo["rps"]
    rows_per_s = batched["rps"] * BATCH_ROWS
    print(
        f"serving: gunicorn {options.workers} sync workers, {n} connections, {secs:g} s each "
        f"in {options.rounds} interleaved rounds (medians), "
        f"load generator {generator}, {os.cpu_count()} CPUs"
        + (f", env {' '.join(options.env)}" if options.env else "")
    )
    for label, stats in (("echo", echo), ("predict", predict), ("invocations", mlflow)):
        print(
            f"  {label:<12} {stats['rps']:8.0f} req/s  p50 {stats['p50_ms']:6.2f} ms  "
            f"p99 {stats['p99_ms']:6.2f} ms  errors {stats['errors']}"
        )
    print(
        f"  batch 1,000  {batched['rps']:8.1f} req/s  {rows_per_s:,.0f} rows/s  "
        f"p99 {batched['p99_ms']:.1f} ms  errors {batched['errors']}"
    )
    low, high = MLFLOW_SINGLE_RPS
    print(
        f"predict/echo req/s: {ratio:.2f}x "
        f"(target >= {TARGET_ECHO_RATIO}x, {verdict(ratio >= TARGET_ECHO_RATIO)})"
    )
    print(
        f"predict p99: {predict['p99_ms']:.2f} ms "
        f"(target < {TARGET_P99_MS:g} ms, {verdict(predict['p99_ms'] < TARGET_P99_MS)})"
    )
    print(
        f"predict vs MLflow single-row ({low}-{high} req/s): "
        f"{predict['rps'] / high:.0f}x-{predict['rps'] / low:.0f}x "
        f"(target >= {TARGET_MLFLOW_X}x, {verdict(predict['rps'] / high >= TARGET_MLFLOW_X)})"
    )
    print(
        f"batch rows/s vs MLflow ({MLFLOW_BATCH_ROWS_PER_S:,}): "
        f"{rows_per_s / MLFLOW_BATCH_ROWS_PER_S:.1f}x "
        f"(target >= {TARGET_BATCH_X}x, "
        f"{verdict(rows_per_s / MLFLOW_BATCH_ROWS_PER_S >= TARGET_BATCH_X)})"
    )


if __name__ == "__main__":
    main()
