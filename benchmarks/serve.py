"""Serving speed: single-row predict against JSON echo endpoints and MLflow's scoring server.

`make bench` runs it; it prints and never asserts. A penguins model (default parameters) is
trained into a temporary registry; gunicorn then serves benchmarks/serve_app.py (the real app
from create_app() plus a /bench/echo route that answers its parsed JSON body) with 2 sync
workers and production's settings: DSBA_ENV=production with API tokens, SECRET_KEY, a metrics
token and one trusted proxy hop, so every request pays for its request id, JSON access-log
line, multiprocess Prometheus metrics, security headers and bearer-token check (each request
carries a writer's token and the X-Forwarded-For a proxy adds). A second gunicorn, started
the same way from the same gunicorn.conf.py, serves benchmarks/bare_app.py: a bare Flask echo
with nothing of ours, the floor for what our hooks cost.
MLflow's own scoring server is the baseline: benchmarks/mlflow_model.py, run by the separate
.mlflow/.venv (`make bench-mlflow-deps`; MLflow never enters the project's venv), trains an
XGBClassifier with dsba's default parameters on the same splits (island and sex one-hot in an
sklearn Pipeline, sklearn flavor with a signature), and `mlflow models serve --env-manager
local -w <workers>` serves it (uvicorn). Without .mlflow/.venv the MLflow ratios are skipped.
The same load generator drives each endpoint with the same connection count, in interleaved
rounds (bare echo, app echo, predict, mlflow single, invocations, batch, mlflow batch; each
round starts one endpoint later than the one before), and each figure is the median over
rounds, so a busy machine weighs on every endpoint alike. Each ratio is the median of its
per-round ratios (both endpoints measured seconds apart in the same round), printed with the
lowest and highest round, so the machine's drift between rounds cancels out of it rather than
into it:

- bare echo:     POST /bench/echo on the bare Flask app, the same body echoed back
- app echo:      POST /bench/echo          the single-row request body, echoed back by our app
- predict:       POST /api/predict         {model, records: [one row]} -> label + probabilities
- mlflow single: POST /invocations on MLflow's server, dataframe_split with one row
- invocations:   POST /api/models/<ref>/invocations  the same body on our server
- batch:         POST /api/predict         1,000 rows per request (reported in rows/s)
- mlflow batch:  POST /invocations on MLflow's server, the same 1,000 rows in dataframe_split

Issue 12's targets: app echo at least 0.90x bare echo (the hooks cost at most 10%), and
predict at least 0.5x bare echo. Each server is timed only once all its workers are idle
(done importing). --only 'bare echo,app echo,predict' measures just those rows.

Each ratio comes with a 90% bootstrap interval for its median (the rounds resampled): the
range another run of the same length would likely print. A target is "met" when the whole
interval reaches it, "MISSED" when none does, and "unsettled" when it lies inside: then more
rounds (a longer --seconds) narrow the interval. --noise also times a second, identical bare
echo server (row "bare echo again") and prints its ratio to the first: what this machine's
noise alone does to a ratio (1.000 where nothing else runs).

The load generator is wrk (Debian package `wrk`) when it is on PATH, otherwise a Python one:
N processes, each with one http.client connection, sending back to back (gunicorn's sync
workers close every connection; wrk keeps them open where the server allows, as uvicorn
does). --env K=V passes extra environment to every server (e.g. --env OMP_NUM_THREADS=1).
Issue 3 quoted ~50-150 single-row requests/s and ~48,000 rows/s for MLflow 3.17's server;
those figures are history only: the ratios printed here use MLflow measured in this run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
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
MLFLOW_VENV = ROOT / ".mlflow" / ".venv"
TARGET_ECHO_RATIO, TARGET_P99_MS, TARGET_MLFLOW_X, TARGET_BATCH_X = 0.6, 10.0, 20, 3
# Issue 12: the hooks cost at most 10% of a bare echo; single-row predict half a bare echo.
TARGET_HOOKS_X, TARGET_PREDICT_BARE_X = 0.90, 0.5
BATCH_ROWS = 1_000
# Resamples of the rounds behind each ratio's interval (median_interval).
BOOTSTRAP_SAMPLES = 2_000
# A benchmark-only writer token (/bench/echo is a POST no reader may make); the servers are
# given its hash, as production is.
TOKEN = "dsba_benchmark-writer-token"
HEADERS = {
    "Content-Type": "application/json",
    "Authorization": f"Bearer {TOKEN}",
    "X-Forwarded-For": "203.0.113.7",
}


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


def production_env(registry: Path) -> dict[str, str]:
    """The settings production runs with (DSBA_ENV=production refuses to start without them)."""
    from dsba.auth import hash_token

    return {
        "DSBA_ENV": "production",
        "DSBA_REGISTRY_DIR": str(registry),
        "DSBA_API_TOKENS": f"viewer:reader:{hash_token('r' * 32)},bench:writer:{hash_token(TOKEN)}",
        "DSBA_METRICS_TOKEN": "benchmark-metrics-token",
        "SECRET_KEY": "benchmark-secret-key-" + "k" * 32,
        "DSBA_PROXY_HOPS": "1",
    }


def start_server(
    app: str, port: int, workers: int, env_vars: dict[str, str], log: Path, ready: tuple
) -> subprocess.Popen:
    """Start gunicorn from gunicorn.conf.py with a benchmarks/ app; wait until it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSBA_", "PROMETHEUS_"))}
    env.update(
        DSBA_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers),
        PYTHONPATH=str(ROOT / "benchmarks"),
    )
    env.update(env_vars)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(proc, port, *ready, log)
    wait_idle(proc)
    return proc


def wait_idle(proc: subprocess.Popen, deadline: float = 120.0) -> None:
    """Wait until the server's processes are idle: one worker answering does not mean the
    others have finished importing, and an import would be timed as requests."""
    import psutil

    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        before = sum(sum(p.cpu_times()[:2]) for p in family)
        time.sleep(0.5)
        if sum(sum(p.cpu_times()[:2]) for p in family) - before < 0.05:
            return


def wait_ready(proc: subprocess.Popen, port: int, path: str, status: int, log: Path) -> str:
    """Wait until GET path answers status and return its Server header; stop proc on failure."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            response = conn.getresponse()
            if response.status == status:
                return response.getheader("server", "?")
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    tail = log.read_text(errors="replace")[-800:]
    raise RuntimeError(f"{path} did not answer {status} within 120 s; its log ends:\n{tail}")


def start_mlflow(
    workdir: Path, url: str, workers: int, extra_env: dict[str, str], bodies: list[bytes]
) -> tuple[subprocess.Popen, str]:
    """Save the MLflow baseline model, serve it from .mlflow/.venv at url; return it and a note."""
    from dsba.model.params import validate_params

    if not (MLFLOW_VENV / "bin/mlflow").exists():
        where = MLFLOW_VENV.relative_to(ROOT)
        raise RuntimeError(f"no {where}/ (`make bench-mlflow-deps` makes it)")
    model, port = workdir / "mlflow-model", url.split(":")[2].split("/")[0]
    script, params = ROOT / "benchmarks/mlflow_model.py", json.dumps(validate_params({}))
    saved = subprocess.run(
        [MLFLOW_VENV / "bin/python", script, workdir / "penguins.csv", model, params],
        capture_output=True,
        text=True,
    )
    if saved.returncode != 0:
        raise RuntimeError(f"mlflow_model.py failed: {saved.stderr.strip()[-500:]}")
    env = {**os.environ, "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}", **extra_env}
    log = workdir / "mlflow.log"
    serve = ["models", "serve", "-m", model, "--env-manager", "local", "-h", "127.0.0.1"]
    proc = subprocess.Popen(
        [MLFLOW_VENV / "bin/mlflow", *serve, "-p", port, "-w", str(workers)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = wait_ready(proc, int(port), "/ping", 200, log)
    try:
        check_answers([(url, body, "predictions") for body in bodies])
    except BaseException:
        stop_server(proc)
        raise
    return proc, f"{saved.stdout.strip()}, `mlflow models serve -w {workers}` (server: {server})"


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started in its own session; wait until its whole process group is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader; workers may outlive it briefly (uvicorn's do)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _wrk(url: str, body: bytes, connections: int, seconds: float, workdir: Path) -> dict:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in HEADERS.items())
        + f"wrk.body = {json.dumps(body.decode())}\n"
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
    # wrk reads whole seconds only ("3.3s" is an error).
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            url,
        ],
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
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=HEADERS)
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


def drive_all(
    targets: dict[str, tuple[str, bytes]], options, workdir: Path
) -> dict[str, list[dict]]:
    """Measure every target in interleaved rounds; return each target's figures per round.

    Interleaving spreads whatever else the machine is doing over all targets alike, so the
    ratios stay fair on a busy machine.
    """
    n, per_round = options.connections, options.seconds / options.rounds
    for url, body in targets.values():
        drive(url, body, n, 1.0, workdir)  # warm-up: model cache, lazy imports
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    names = list(targets)
    for round_number in range(options.rounds):
        # Each round starts one target later, so none always follows the same one (a server's
        # leftover work, such as the prediction log's last flush, lands on every target alike).
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            url, body = targets[name]
            runs[name].append(drive(url, body, n, per_round, workdir))
    return runs


def medians(runs: list[dict]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def ratio_text(ours: list[dict], base: list[dict], unit: str) -> tuple[str, tuple[float, float]]:
    """ours/base req/s paired by round, as printed (median, its 90% interval, lowest and
    highest round), and the interval."""
    ratios = [a["rps"] / b["rps"] for a, b in zip(ours, base, strict=True)]
    low, high = interval = median_interval(ratios)
    text = (
        f"{statistics.median(ratios):{unit}}x, 90% interval {low:{unit}}-{high:{unit}}x, "
        f"rounds {min(ratios):{unit}}-{max(ratios):{unit}}x"
    )
    return text, interval


def median_interval(ratios: list[float], level: float = 0.90) -> tuple[float, float]:
    """A bootstrap interval for the median of ratios: how far another run's median may fall.

    The rounds are resampled with replacement (a fixed seed: the same rounds, the same
    interval); few rounds give a wide interval, and a noisy machine a wider one.
    """
    rng = random.Random(0)
    medians_ = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(BOOTSTRAP_SAMPLES)
    )
    cut = int(BOOTSTRAP_SAMPLES * (1 - level) / 2)
    return medians_[cut], medians_[-1 - cut]


def verdict_of(interval: tuple[float, float], target: float) -> str:
    """'met' when the whole interval reaches the target, 'MISSED' when none of it does, and
    'unsettled' when the target lies inside it (more rounds, or a quieter machine, decide)."""
    low, high = interval
    if low >= target:
        return "met"
    return "MISSED" if high < target else "unsettled: run longer"


def check_answers(checks: list[tuple[str, bytes, str]]) -> None:
    """Make sure each (url, body, key) answers 200 with key in its JSON before timing it."""
    for url, body, key in checks:
        match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
        path = match.group(3)
        conn = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=30)
        conn.request("POST", path, body=body, headers=HEADERS)
        response = conn.getresponse()
        text = response.read()
        if response.status != 200 or key not in json.loads(text):
            raise RuntimeError(f"{url} answered {response.status}: {text[:300]!r}")


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
        "--only",
        default="",
        metavar="A,B",
        help="measure only these rows (e.g. 'bare echo,predict')",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="extra server environment"
    )
    parser.add_argument(
        "--noise",
        action="store_true",
        help="also time a second bare echo server: how far two identical servers differ",
    )
    options = parser.parse_args()
    # kill (SIGTERM) must still stop both servers: make it an exit that runs finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    extra_env = dict(item.split("=", 1) for item in options.env)
    workdir = Path(tempfile.mkdtemp(prefix="dsba-bench-serve-"))
    registry = workdir / "registry"
    rows = train_model(registry, workdir)
    single = json.dumps({"model": "penguins", "records": rows[:1]}).encode()
    batch_rows = (rows * (BATCH_ROWS // len(rows) + 1))[:BATCH_ROWS]
    batch = json.dumps({"model": "penguins", "records": batch_rows}).encode()
    split, split_batch = (
        json.dumps(
            {
                "dataframe_split": {
                    "columns": list(rows[0]),
                    "data": [list(r.values()) for r in part],
                }
            }
        ).encode()
        for part in (rows[:1], batch_rows)
    )
    port, bare_port, again_port = free_port(), free_port(), free_port()
    base, mlflow_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{free_port()}/invocations"
    bare_url = f"http://127.0.0.1:{bare_port}/bench/echo"
    # Both servers get the same environment (the bare app reads none of it).
    env = {**production_env(registry), **extra_env}
    servers = []
    try:
        # The bare app has no GET route: its 405 to a GET says it is up.
        servers.append(
            start_server(
                "bare_app:app",
                bare_port,
                options.workers,
                env,
                workdir / "bare.log",
                ("/bench/echo", 405),
            )
        )
        if options.noise:
            servers.append(
                start_server(
                    "bare_app:app",
                    again_port,
                    options.workers,
                    env,
                    workdir / "bare-again.log",
                    ("/bench/echo", 405),
                )
            )
        servers.append(
            start_server(
                "serve_app:app",
                port,
                options.workers,
                env,
                workdir / "gunicorn.log",
                ("/healthz", 200),
            )
        )
        check_answers(
            [
                (bare_url, single, "echo"),
                (f"{base}/bench/echo", single, "echo"),
                (f"{base}/api/predict", single, "predictions"),
                (f"{base}/api/predict", batch, "predictions"),
                (f"{base}/api/models/penguins/invocations", split, "predictions"),
            ]
        )
        targets = {
            "bare echo": (bare_url, single),
            "app echo": (f"{base}/bench/echo", single),
            "predict": (f"{base}/api/predict", single),
            "mlflow single": (mlflow_url, split),
            "invocations": (f"{base}/api/models/penguins/invocations", split),
            "batch": (f"{base}/api/predict", batch),
            "mlflow batch": (mlflow_url, split_batch),
        }
        if options.only:
            wanted = {name.strip() for name in options.only.split(",")}
            targets = {k: v for k, v in targets.items() if k in wanted}
        if options.noise:
            again = f"http://127.0.0.1:{again_port}/bench/echo"
            check_answers([(again, single, "echo")])
            targets = {"bare echo again": (again, single), **targets}
        try:
            if not any(name.startswith("mlflow") for name in targets):
                raise RuntimeError("not asked for (--only)")
            mlflow, note = start_mlflow(
                workdir, mlflow_url, options.workers, extra_env, [split, split_batch]
            )
            servers.append(mlflow)
            mlflow_note = f"MLflow baseline: {note}"
        except (RuntimeError, OSError, ValueError, http.client.HTTPException) as exc:
            mlflow_note = f"MLflow not measured: {exc}"
            targets = {k: v for k, v in targets.items() if not k.startswith("mlflow")}
        runs = drive_all(targets, options, workdir)
    finally:
        for server in servers:
            stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)
    generator = "wrk" if shutil.which("wrk") else "python http.client"
    n, secs = options.connections, options.seconds
    print(
        f"serving: gunicorn {options.workers} sync workers, {n} connections, {secs:g} s each "
        f"in {options.rounds} interleaved rounds (medians; ratios paired by round), "
        f"DSBA_ENV=production with tokens, load generator {generator}, {os.cpu_count()} CPUs"
        + (f", env {' '.join(options.env)}" if options.env else "")
    )
    print(f"  {mlflow_note}")
    figures = {label: medians(rounds) for label, rounds in runs.items()}
    for label, stats in figures.items():
        per_s = f"  {stats['rps'] * BATCH_ROWS:9,.0f} rows/s" if "batch" in label else ""
        print(
            f"  {label:<15} {stats['rps']:8.1f} req/s{per_s}  p50 {stats['p50_ms']:7.2f} ms  "
            f"p99 {stats['p99_ms']:7.2f} ms  errors {stats['errors']:g}"
        )
    for what, ours, base, target, unit in [
        ("app echo/bare echo req/s", "app echo", "bare echo", TARGET_HOOKS_X, ".3f"),
        ("predict/bare echo req/s", "predict", "bare echo", TARGET_PREDICT_BARE_X, ".3f"),
        ("predict/app echo req/s", "predict", "app echo", TARGET_ECHO_RATIO, ".3f"),
        ("predict vs MLflow single-row", "predict", "mlflow single", TARGET_MLFLOW_X, ".1f"),
        ("batch rows/s vs MLflow", "batch", "mlflow batch", TARGET_BATCH_X, ".1f"),
    ]:
        if ours not in runs or base not in runs:
            print(f"{what}: skipped ({base if ours in runs else ours} not measured)")
            continue
        x, interval = ratio_text(runs[ours], runs[base], unit)
        print(f"{what}: {x} (target >= {target}x, {verdict_of(interval, target)})")
    if "bare echo again" in runs:
        x, _ = ratio_text(runs["bare echo again"], runs["bare echo"], ".3f")
        print(f"noise: a second bare echo server/the first {x} (1 on a quiet machine)")
    if "predict" in figures:
        p99 = figures["predict"]["p99_ms"]
        ok = verdict(p99 < TARGET_P99_MS)
        print(f"predict p99: {p99:.2f} ms (target < {TARGET_P99_MS:g} ms, {ok})")


if __name__ == "__main__":
    main()
