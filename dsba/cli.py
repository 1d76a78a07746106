"""The dsba command line: train, inspect, alias, delete, predict, follow jobs; local or --remote."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from dsba.cli_datasets import datasets
from dsba.cli_jobs import jobs
from dsba.cli_models import metrics_line, models
from dsba.cli_monitor import feedback, monitor
from dsba.cli_options import Context, DsbaGroup, LocalCommand, shared_options
from dsba.cli_progress import TrainingBars, searched
from dsba.data.ingestion import read_source
from dsba.data.target import TASKS
from dsba.errors import InvalidInput
from dsba.model.intervals import DEFAULT_INTERVAL
from dsba.model.params import parse_param_pairs
from dsba.model.threshold import OPTIMIZE_CHOICES, REGRESSION_OPTIMIZE

EPILOG = """Exit codes: 0 success, 1 unexpected failure, 2 usage error, 3 invalid input
(bad data, parameters or reference), 4 not found, 5 conflict, 6 store unreadable or corrupt.
The registry is DSBA_REGISTRY_DIR (default ./models/registry); --remote uses a server instead."""


@click.group(cls=DsbaGroup, epilog=EPILOG, params=shared_options(envvars=True))
def main() -> None:
    """Train, version and serve XGBoost classifiers and regressors on tabular data.

    --json, --remote and --token go before or after the command name, alike; given at
    both places, the one nearest the command wins (--json anywhere turns JSON on).
    DSBA_REMOTE and DSBA_TOKEN stand for the ones before it.

    \b
    Examples:
      dsba train penguins.csv --target species --name penguins
      dsba models list --json
      dsba models list --remote http://host:8000 --token $DSBA_TOKEN
    """


main.add_command(datasets)
main.add_command(jobs)
main.add_command(models)
main.add_command(monitor)
main.add_command(feedback)


@main.command(epilog=EPILOG)
@click.argument("data")
@click.option("--target", required=True, help="Column to predict.")
@click.option("--name", required=True, help="Model name (a new version is added).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Hyperparameter, repeatable.")
@click.option("--test-size", default=0.2, show_default=True, type=float)
@click.option("--seed", default=42, show_default=True, type=int)
@click.option(
    "--exclude", "exclude", multiple=True, metavar="COL", help="Leave a column out, repeatable."
)
@click.option(
    "--kind",
    "kind_pairs",
    multiple=True,
    metavar="COL=KIND",
    help="Read a column as numeric, categorical, datetime, boolean or ignore; repeatable.",
)
@click.option(
    "--task",
    type=click.Choice(TASKS),
    help="Override the task inferred from the target (numbers with many values: regression).",
)
@click.option(
    "--interval",
    default=DEFAULT_INTERVAL,
    show_default=True,
    type=float,
    help="Regression: nominal coverage of the prediction intervals (0.5 to 0.99).",
)
@click.option(
    "--optimize",
    type=click.Choice(OPTIMIZE_CHOICES + REGRESSION_OPTIMIZE),
    default=None,
    help="Metric that matters (default accuracy, rmse for a regression); a search scores by it,"
    " and on a binary target balanced_accuracy and f1 pick the decision threshold.",
)
@click.option(
    "--time-budget",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Search hyperparameters and the linear candidate for this long (10 to 86400 s).",
)
@click.option(
    "--trials",
    type=int,
    default=None,
    metavar="N",
    help="Search N candidates (deterministic for a seed); with --time-budget, whichever ends"
    " first.",
)
@click.pass_obj
def train(
    obj: Context,
    data: str,
    target: str,
    name: str,
    params: tuple[str, ...],
    test_size: float,
    seed: int,
    exclude: tuple[str, ...],
    kind_pairs: tuple[str, ...],
    task: str | None,
    interval: float,
    optimize: str | None,
    time_budget: float | None,
    trials: int | None,
) -> None:
    """Train a classifier or regressor on DATA (path or URL) and store it as a new version.

    \b
    Examples:
      dsba train penguins.csv --target species --name penguins --param max_depth=4
      dsba train penguins.csv --target species --name penguins --json
      dsba train penguins.csv --target species --name p2 --exclude island --kind year=categorical
      dsba train penguins.csv --target body_mass_g --name mass --interval 0.8
      dsba train ratings.csv --target stars --name stars --task regression
      dsba train churn.csv --target churned --name churn --optimize balanced_accuracy
      dsba train penguins.csv --target species --name penguins --time-budget 60
      dsba train houses.csv --target price --name houses --trials 50 --optimize mae
    """
    search = {k: v for k, v in (("time_budget", time_budget), ("trials", trials)) if v is not None}
    with contextlib.ExitStack() as stack:
        bars = TrainingBars(stack, time_budget)
        if search:
            search["search_progress"] = bars.trial
        meta = obj.service.train(
            data,
            target=target,
            name=name,
            params=parse_param_pairs(params),
            test_size=test_size,
            seed=seed,
            progress=bars.round,
            exclude=list(exclude),
            kinds=parse_kind_pairs(kind_pairs),
            task=task,
            interval=interval,
            **({"optimize": optimize} if optimize else {}),
            **search,
        )
        bars.finish()
    dropped = "".join(
        f"\n  dropped {d['column']}: {d['reason']}" for d in meta.get("dropped_columns", [])
    )
    threshold = meta.get("threshold")
    tuned = meta.get("optimize") not in (None, "accuracy") and threshold is not None
    decision = f"\n  optimized {meta['optimize']}: threshold {threshold:g}" if tuned else ""
    obj.emit(
        meta,
        f"trained {meta['name']}:{meta['version']} in "
        f"{meta.get('training_seconds', 0):.1f}s\n  {metrics_line(meta['metrics'])}{dropped}"
        f"{decision}{searched(meta.get('search'))}",
    )


def parse_kind_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """Turn ["col=kind", ...] into {col: kind}; the kinds are checked with the columns."""
    kinds: dict[str, str] = {}
    for pair in pairs:
        column, sep, kind = pair.rpartition("=")
        if not sep or not column.strip():
            raise InvalidInput(f"--kind {pair!r} must look like COLUMN=KIND", {"kinds": pair})
        kinds[column.strip()] = kind.strip()
    return kinds


def write_table(frame: pd.DataFrame, out: str | None) -> None:
    """Write frame as CSV, Parquet or JSON lines by the file's extension (CSV to stdout)."""
    if out is None or out == "-":
        click.echo(frame.to_csv(index=False), nl=False)
        return
    suffix = Path(out).suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(out, index=False)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        frame.to_json(out, orient="records", lines=True)
    else:
        frame.to_csv(out, index=False)


@main.command(epilog=EPILOG)
@click.argument("ref")
@click.argument("data")
@click.option("-o", "--output", "out", help="Output file (.csv, .parquet, .jsonl); stdout if none.")
@click.option(
    "--log", "log_rows", is_flag=True, help="Record the rows in the model's prediction log (ids)."
)
@click.option(
    "--job",
    "as_job",
    is_flag=True,
    help="With --remote: upload DATA whole and score it as a server job (any size; CSV out).",
)
@click.pass_obj
def predict(
    obj: Context, ref: str, data: str, out: str | None, log_rows: bool, as_job: bool
) -> None:
    """Score every row of DATA with model REF; adds label, probability and flag columns.

    A regression model adds prediction, prediction_lower and prediction_upper instead.

    \b
    Examples:
      dsba predict penguins@production new.csv -o scored.parquet
      dsba predict penguins:2 new.csv --json
      dsba predict penguins new.csv --log -o scored.csv
      dsba predict penguins big.csv --job -o scored.csv --remote https://dsba.example.org
    """
    if as_job:
        _predict_job(obj, ref, data, out)
        return
    if log_rows and obj.remote:
        raise InvalidInput("--log scores locally; a server logs what it scores by itself")
    pinned, text_columns = obj.service.text_features(ref)
    frame = read_source(data, obj.settings, text_columns=text_columns).frame
    if log_rows:
        result = _predict_logged(obj, pinned, frame)
    else:
        result = obj.service.predict_frame(pinned, frame)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    scored = result.to_frame(frame, flags=True)
    if obj.as_json and out is None:
        click.echo(
            json.dumps(
                {
                    "model": result.model,
                    "predictions": result.records(),
                    "warnings": result.warnings,
                },
                default=str,
            )
        )
        return
    write_table(scored, out)
    if out:
        click.echo(f"wrote {len(scored)} rows scored by {result.model} to {out}", err=True)


def _predict_job(obj: Context, ref: str, data: str, out: str | None) -> None:
    """Score a file as a server job (rows counted on a progress bar) into a CSV."""
    if not obj.remote or not out or Path(out).suffix.lower() != ".csv":
        raise InvalidInput("--job scores on a server: give --remote URL and -o FILE.csv")
    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(length=total, label="scoring", file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        job = obj.service.score_file(ref, data, out, progress=progress)
    result = job["result"]
    text = f"wrote {result['rows']} rows scored by {job['model']} to {out}"
    if result.get("metrics"):
        text += f"; accuracy on {result['evaluated_rows']} labelled rows: "
        text += f"{result['metrics']['accuracy']:.4f}"
    obj.emit(job, text)


def _predict_logged(obj: Context, pinned: str, frame: pd.DataFrame) -> Any:
    """Score frame locally and write its rows to the prediction log before returning."""
    from dsba.monitoring.prediction_log import PredictionLog
    from dsba.service import LocalService

    # Asked for explicitly: every row is logged, whatever the server's sampling.
    prediction_log = PredictionLog(
        obj.settings.registry_dir,
        keep_days=obj.settings.prediction_log_days,
        max_buffered_rows=max(len(frame), 1),
    )
    service = LocalService(obj.settings, obj.service.registry, prediction_log)
    result = service.predict_frame(pinned, frame, source="cli")
    prediction_log.close()
    if prediction_log.dropped:
        # An id names a logged row: rows that are not in the log get none.
        click.echo("warning: the prediction log could not be written; no ids given", err=True)
        result.ids = None
    return result


@main.command(cls=LocalCommand)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the web app and API with gunicorn.

    \b
    Example:
      dsba serve --port 8000 --workers 4
    """
    import os

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DSBA_BIND": f"{host}:{port}", "WEB_CONCURRENCY": str(workers)}
    args = ["gunicorn", "-c", str(root / "gunicorn.conf.py"), "--chdir", str(root), "wsgi:app"]
    os.execvpe(sys.executable, [sys.executable, "-m", *args], env)  # noqa: S606


@main.group(cls=DsbaGroup)
def token() -> None:
    """Make API tokens for DSBA_API_TOKENS.

    \b
    Example:
      dsba token create alice --role writer
    """


@token.command("create")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["reader", "writer"]), default="reader", show_default=True
)
@click.pass_obj
def token_create(obj: Context, name: str, role: str) -> None:
    """Print a new token for NAME and the entry to add to DSBA_API_TOKENS.

    \b
    Example:
      dsba token create alice --role writer --json
    """
    from dsba.auth import hash_token, new_token

    secret = new_token()
    entry = f"{name}:{role}:{hash_token(secret)}"
    obj.emit(
        {"name": name, "role": role, "token": secret, "entry": entry},
        f"token (give it to {name}; it is shown once): {secret}\n"
        f"add to DSBA_API_TOKENS (comma-separated):   {entry}",
    )
