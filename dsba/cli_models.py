"""dsba models: list, show, delete, alias and split model versions, locally or --remote."""

from __future__ import annotations

from typing import Any

import click

from dsba.cli_options import Context, DsbaGroup
from dsba.errors import InvalidInput


def metrics_line(metrics: dict[str, Any]) -> str:
    """The headline metrics of a version on one line."""
    if "rmse" in metrics:
        return _regression_line(metrics)
    keys = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
    parts = [f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), int | float)]
    baseline = metrics.get("baseline_accuracy")
    if baseline is not None:
        parts.append(f"(majority baseline {baseline:.4f})")
    return " ".join(parts)


def _regression_line(metrics: dict[str, Any]) -> str:
    keys = ("rmse", "mae", "r2", "mape")
    parts = [f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), int | float)]
    coverage, width = metrics.get("interval_coverage"), metrics.get("interval_mean_width")
    if isinstance(coverage, int | float) and isinstance(width, int | float):
        parts.append(f"interval_coverage={coverage:.3f} interval_width={width:.4g}")
    if isinstance(metrics.get("baseline_rmse"), int | float):
        parts.append(f"(mean baseline rmse={metrics['baseline_rmse']:.4g})")
    return " ".join(parts)


def task_label(meta: dict[str, Any]) -> str:
    """The task of a version's metadata (binary, multiclass or regression; old ones have none)."""
    return str(meta.get("task") or "?")


@click.group(cls=DsbaGroup)
def models() -> None:
    """List, show, delete and alias model versions.

    \b
    Example:
      dsba models list --json
    """


@models.command("list")
@click.pass_obj
def models_list(obj: Context) -> None:
    """List every model with its latest version and aliases.

    \b
    Example:
      dsba models list --json
    """
    rows = obj.service.list_models()
    lines = [
        f"{m['name']:<24} v{m['latest_version']:<4} {task_label(m.get('latest', {})):<10} "
        f"aliases={m.get('aliases') or {}} "
        f"{metrics_line(m.get('latest', {}).get('metrics', {}))}"
        for m in rows
    ]
    obj.emit(rows, "\n".join(lines) or "no models yet")


@models.command("show")
@click.argument("ref")
@click.pass_obj
def models_show(obj: Context, ref: str) -> None:
    """Show the metadata of REF (name, name:VERSION or name@ALIAS).

    \b
    Example:
      dsba models show penguins@production --json
    """
    meta = obj.service.metadata(ref)
    features = ", ".join(meta.get("features", []))
    if meta.get("task") == "regression":
        intervals = meta.get("intervals") or {}
        what = f"task=regression interval={intervals.get('coverage')} ({intervals.get('method')})"
    else:
        what = f"task={task_label(meta)} classes={meta['classes']}"
    obj.emit(
        meta,
        f"{meta['name']}:{meta['version']} target={meta['target']} "
        f"{what}\n  {metrics_line(meta['metrics'])}\n"
        f"  features: {features}\n  trained {meta.get('trained_at')} "
        f"on {meta['dataset']['source']} (sha256 {meta['dataset']['sha256'][:12]})",
    )


@models.command("delete")
@click.argument("ref")
@click.pass_obj
def models_delete(obj: Context, ref: str) -> None:
    """Delete the version REF (must be NAME:VERSION).

    \b
    Example:
      dsba models delete penguins:1
    """
    result = obj.service.delete(ref)
    obj.emit(result, f"deleted {result['deleted']}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@click.pass_obj
def models_alias(obj: Context, name: str, alias: str, version: int) -> None:
    """Point NAME@ALIAS at VERSION.

    \b
    Example:
      dsba models alias penguins production 2
    """
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
    """Route NAME@ALIAS to several versions by weight (canary).

    \b
    Example:
      dsba models split penguins production 3=90 4=10
    """
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


_decision_command(
    "promote",
    "Send all of NAME@ALIAS to the newest version of its split.\n\n"
    "\b\nExample:\n  dsba models promote penguins production",
)
_decision_command(
    "rollback",
    "Send all of NAME@ALIAS back to the oldest version of its split.\n\n"
    "\b\nExample:\n  dsba models rollback penguins production",
)
