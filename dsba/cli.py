"""The dsba command line: train, inspect, alias, delete, predict, follow jobs; local or --remote."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from dsba.cli_jobs import jobs
from dsba.config import Settings
from dsba.data.ingestion import read_source
from dsba.errors import Conflict, DsbaError, InvalidInput, NotFound, StoreError
from dsba.model.params import parse_param_pairs

EXIT_CODES = {InvalidInput: 3, NotFound: 4, Conflict: 5, StoreError: 6}
EPILOG = """Exit codes: 0 success, 1 unexpected failure, 2 usage error, 3 invalid input
(bad data, parameters or reference), 4 not found, 5 conflict, 6 store unreadable or corrupt.
The registry is DSBA_REGISTRY_DIR (default ./models/registry); --remote uses a server instead."""


def exit_code(error: DsbaError) -> int:
    """The documented exit code for a domain error."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 3


class Context:
    """What every command needs: the service (local or remote) and the output mode."""

    def __init__(self, remote: str | None, token: str | None, as_json: bool) -> None:
        self.as_json = as_json
        self.remote = bool(remote)
        self.settings = Settings.from_env()
        if remote:
            from dsba.client import Client

            self.service: Any = Client(remote, token=token)
        else:
            from dsba.service import LocalService

            self.service = LocalService(self.settings)

    def emit(self, payload: Any, text: str) -> None:
        """Print JSON in --json mode, otherwise the human summary."""
        click.echo(json.dumps(payload, indent=2, default=str) if self.as_json else text)


class DsbaGroup(click.Group):
    """A group that turns domain errors into one-line messages and documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DsbaError as error:
            # Local use: the store is the user's own, so its OS error (paths and all) helps;
            # the server keeps that detail out of its answers.
            cause = error.__cause__
            detail = (
                f" ({cause})"
                if isinstance(error, StoreError) and isinstance(cause, OSError)
                else ""
            )
            click.echo(f"error: {error.message}{detail}", err=True)
            ctx.exit(exit_code(error))


@click.group(cls=DsbaGroup, epilog=EPILOG)
@click.option("--remote", envvar="DSBA_REMOTE", help="Base URL of a dsba server to use.")
@click.option("--token", envvar="DSBA_TOKEN", help="API token for --remote.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def main(ctx: click.Context, remote: str | None, token: str | None, as_json: bool) -> None:
    """Train, version and serve XGBoost classifiers on tabular data."""
    ctx.obj = Context(remote, token, as_json)


main.add_command(jobs)


def _metrics_line(metrics: dict[str, Any]) -> str:
    keys = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
    parts = [f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), int | float)]
    baseline = metrics.get("baseline_accuracy")
    if baseline is not None:
        parts.append(f"(majority baseline {baseline:.4f})")
    return " ".join(parts)


@main.command(epilog=EPILOG)
@click.argument("data")
@click.option("--target", required=True, help="Column to predict.")
@click.option("--name", required=True, help="Model name (a new version is added).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Hyperparameter, repeatable.")
@click.option("--test-size", default=0.2, show_default=True, type=float)
@click.option("--seed", default=42, show_default=True, type=int)
@click.pass_obj
def train(
    obj: Context,
    data: str,
    target: str,
    name: str,
    params: tuple[str, ...],
    test_size: float,
    seed: int,
) -> None:
    """Train a classifier on DATA (path or URL) and store it as a new version."""
    with contextlib.ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            # The bar appears with the first round, so a refused dataset prints only its error.
            if not bars:
                bar = click.progressbar(length=total, label="training", file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].length = total
            bars[0].update(done - bars[0].pos)

        meta = obj.service.train(
            data,
            target=target,
            name=name,
            params=parse_param_pairs(params),
            test_size=test_size,
            seed=seed,
            progress=progress,
        )
        if bars:
            bars[0].update(bars[0].length - bars[0].pos)
    dropped = "".join(
        f"\n  dropped {d['column']}: {d['reason']}" for d in meta.get("dropped_columns", [])
    )
    obj.emit(
        meta,
        f"trained {meta['name']}:{meta['version']} in "
        f"{meta.get('training_seconds', 0):.1f}s\n  {_metrics_line(meta['metrics'])}{dropped}",
    )


@main.group(cls=DsbaGroup)
def models() -> None:
    """List, show, delete and alias model versions."""


@models.command("list")
@click.pass_obj
def models_list(obj: Context) -> None:
    """List every model with its latest version and aliases."""
    rows = obj.service.list_models()
    lines = [
        f"{m['name']:<24} v{m['latest_version']:<4} aliases={m.get('aliases') or {}} "
        f"{_metrics_line(m.get('latest', {}).get('metrics', {}))}"
        for m in rows
    ]
    obj.emit(rows, "\n".join(lines) or "no models yet")


@models.command("show")
@click.argument("ref")
@click.pass_obj
def models_show(obj: Context, ref: str) -> None:
    """Show the metadata of REF (name, name:VERSION or name@ALIAS)."""
    meta = obj.service.metadata(ref)
    features = ", ".join(meta.get("features", []))
    obj.emit(
        meta,
        f"{meta['name']}:{meta['version']} target={meta['target']} "
        f"classes={meta['classes']}\n  {_metrics_line(meta['metrics'])}\n"
        f"  features: {features}\n  trained {meta.get('trained_at')} "
        f"on {meta['dataset']['source']} (sha256 {meta['dataset']['sha256'][:12]})",
    )


@models.command("delete")
@click.argument("ref")
@click.pass_obj
def models_delete(obj: Context, ref: str) -> None:
    """Delete the version REF (must be NAME:VERSION)."""
    result = obj.service.delete(ref)
    obj.emit(result, f"deleted {result['deleted']}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@click.pass_obj
def models_alias(obj: Context, name: str, alias: str, version: int) -> None:
    """Point NAME@ALIAS at VERSION."""
    result = obj.service.set_alias(name, alias, version)
    obj.emit(result, f"{name}@{alias} -> {version}")


def _parse_weights(pairs: tuple[str, ...]) -> dict[int, float]:
    weights: dict[int, float] = {}
    for pair in pairs:
        version, sep, weight = pair.partition("=")
        try:
            weights[int(version)] = float(weight)
        except ValueError as exc:
            raise InvalidInput(f"split {pair!r} must look like VERSION=WEIGHT, e.g. 3=90") from exc
        if not sep:
            raise InvalidInput(f"split {pair!r} must look like VERSION=WEIGHT, e.g. 3=90")
    return weights


@models.command("split")
@click.argument("name")
@click.argument("alias")
@click.argument("weights", nargs=-1, required=True, metavar="VERSION=WEIGHT...")
@click.pass_obj
def models_split(obj: Context, name: str, alias: str, weights: tuple[str, ...]) -> None:
    """Route NAME@ALIAS to several versions by weight (canary), e.g. 3=90 4=10."""
    result = obj.service.set_alias_split(name, alias, _parse_weights(weights))
    obj.emit(result, f"{name}@{alias} -> {result['aliases'][alias]}")


def _decision_command(decision: str, doc: str) -> None:
    """Register `models promote` or `models rollback`: they differ only in the service call."""

    @models.command(decision, help=doc)
    @click.argument("name")
    @click.argument("alias")
    @click.pass_obj
    def command(obj: Context, name: str, alias: str) -> None:
        result = getattr(obj.service, decision)(name, alias)
        obj.emit(result, f"{name}@{alias} -> {result['aliases'][alias]}")


_decision_command("promote", "Send all of NAME@ALIAS to the newest version of its split.")
_decision_command("rollback", "Send all of NAME@ALIAS back to the oldest version of its split.")


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
@click.pass_obj
def predict(obj: Context, ref: str, data: str, out: str | None, log_rows: bool) -> None:
    """Score every row of DATA with model REF; adds label, probability and flag columns."""
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the web app and API with gunicorn."""
    import os

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DSBA_BIND": f"{host}:{port}", "WEB_CONCURRENCY": str(workers)}
    args = ["gunicorn", "-c", str(root / "gunicorn.conf.py"), "--chdir", str(root), "wsgi:app"]
    os.execvpe(sys.executable, [sys.executable, "-m", *args], env)  # noqa: S606


@main.group(cls=DsbaGroup)
def token() -> None:
    """Make API tokens for DSBA_API_TOKENS."""


@token.command("create")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(["reader", "writer"]), default="reader", show_default=True
)
@click.pass_obj
def token_create(obj: Context, name: str, role: str) -> None:
    """Print a new token for NAME and the entry to add to DSBA_API_TOKENS."""
    from dsba.auth import hash_token, new_token

    secret = new_token()
    entry = f"{name}:{role}:{hash_token(secret)}"
    obj.emit(
        {"name": name, "role": role, "token": secret, "entry": entry},
        f"token (give it to {name}; it is shown once): {secret}\n"
        f"add to DSBA_API_TOKENS (comma-separated):   {entry}",
    )
