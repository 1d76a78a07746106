"""dsba models: list, show, delete, alias and split model versions, locally or --remote."""

from __future__ import annotations

from typing import Any

import click

from dsba.cli_options import Context, DsbaGroup
from dsba.cli_progress import searched
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


def alias_text(target: Any) -> str:
    """An alias's target as a person reads it: "2", or "3 (90%) + 4 (10%)" for a split."""
    if isinstance(target, dict):
        return " + ".join(f"{version} ({share:.0%})" for version, share in target.items())
    return str(target)


def aliases_text(aliases: dict[str, Any]) -> str:
    """Every alias of a model as "production -> 2, canary -> 3 (90%) + 4 (10%)"."""
    return ", ".join(f"{alias} -> {alias_text(aliases[alias])}" for alias in sorted(aliases))


def where_models_live(obj: Context) -> str:
    """The registry folder (or server) a listing looked in."""
    return f"on {obj.remote}" if obj.remote else f"in {obj.settings.registry_dir / 'models'}"


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
    lines = []
    for m in rows:
        aliases = aliases_text(m.get("aliases") or {})
        latest = m.get("latest", {})
        lines.append(
            f"{m['name']:<24} v{m['latest_version']:<4} {task_label(latest):<10} "
            f"{metrics_line(latest.get('metrics', {}))}"
            + (f"  aliases: {aliases}" if aliases else "")
        )
    obj.emit(rows, "\n".join(lines) or f"no models yet {where_models_live(obj)}")


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
        f"on {meta['dataset']['source']} (sha256 {meta['dataset']['sha256'][:12]})"
        f"{searched(meta.get('search'))}",
    )


@models.command("threshold")
@click.argument("ref")
@click.argument("value", type=float)
@click.pass_obj
def models_threshold(obj: Context, ref: str, value: float) -> None:
    """Save a new version of REF's binary classifier that predicts the positive class at p >= VALUE.

    Versions are immutable: the new one has the same booster and another threshold; point
    an alias at it to serve it.

    \b
    Example:
      dsba models threshold churn@production 0.3
    """
    meta = obj.service.set_threshold(ref, value)
    obj.emit(
        meta,
        f"saved {meta['name']}:{meta['version']} with threshold {meta['threshold']:g}"
        f" (from version {meta['threshold_from']['version']})\n  {metrics_line(meta['metrics'])}",
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


@models.command("versions")
@click.argument("name")
@click.pass_obj
def models_versions(obj: Context, name: str) -> None:
    """List the versions of NAME, newest first, with aliases and metrics.

    \b
    Example:
      dsba models versions penguins
    """
    rows = obj.service.versions(name)
    lines = [
        f"v{row['version']:<4} {row.get('trained_at') or '':<26} "
        f"{' '.join('@' + a for a in row.get('aliases') or []):<20} {_scores(row['metrics'])}"
        for row in rows
    ]
    obj.emit(rows, "\n".join(lines))


def _scores(metrics: dict[str, Any]) -> str:
    """The headline metrics, or every scalar one for a task without accuracy (regression)."""
    return metrics_line(metrics) or " ".join(
        f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)
    )


def _value(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@models.command("compare")
@click.argument("name")
@click.argument("versions", nargs=-1, required=True, type=int)
@click.pass_obj
def models_compare(obj: Context, name: str, versions: tuple[int, ...]) -> None:
    """Compare VERSIONS of NAME: metrics, parameters that differ, schema and data changes.

    \b
    Example:
      dsba models compare penguins 1 2
    """
    result = obj.service.compare(name, ",".join(str(v) for v in versions))
    header = ["", *(f"v{v['version']}" for v in result["versions"])]
    lines = ["  ".join(f"{cell:>12}" for cell in header)]
    for row in result["metrics"]:
        cells = [row["label"][:12], *(_value(v) for v in row["values"])]
        lines.append("  ".join(f"{cell:>12}" for cell in cells))
    for row in result["params"]:
        if row["differs"]:
            cells = [row["name"][:12], *(_value(v) for v in row["values"])]
            lines.append("  ".join(f"{cell:>12}" for cell in cells))
    for change in result["schema_changes"]:
        kinds = [f"{c['feature']} {c['from']}->{c['to']}" for c in change["kind_changed"]]
        lines.append(
            f"v{change['version']} vs v{change['against']}: added {change['added'] or '-'}, "
            f"dropped {change['dropped'] or '-'}, kinds changed {kinds or '-'}"
        )
    for version, data in zip(result["versions"], result["data"], strict=True):
        sha = str(data["sha256"])[:12]
        lines.append(f"v{version['version']} data sha256 {sha} rows {data['rows']}")
    obj.emit(result, "\n".join(lines))


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


@models.command("unalias")
@click.argument("name")
@click.argument("alias")
@click.pass_obj
def models_unalias(obj: Context, name: str, alias: str) -> None:
    """Remove NAME@ALIAS (the versions it pointed at stay).

    \b
    Example:
      dsba models unalias penguins staging
    """
    result = obj.service.delete_alias(name, alias)
    obj.emit(result, f"removed {name}@{alias}")


@models.command("delete-model")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def models_delete_model(obj: Context, name: str, yes: bool) -> None:
    """Delete the model NAME: every version and alias.

    \b
    Example:
      dsba models delete-model penguins --yes
    """
    if not yes:
        aliases = obj.service.versions(name)
        names = sorted({a for row in aliases for a in row.get("aliases") or []})
        listed = ", ".join(f"v{row['version']}" for row in aliases)
        click.confirm(
            f"Delete {name} ({listed}) and its aliases {', '.join(names) or '(none)'}?",
            abort=True,
            err=True,
        )
    result = obj.service.delete_model(name)
    gone = ", ".join(f"{a} -> {t}" for a, t in sorted(result["aliases"].items()))
    obj.emit(
        result,
        f"deleted {name}: versions {', '.join(map(str, result['versions']))}"
        + (f"; aliases {gone}" if gone else ""),
    )


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
    obj.emit(result, f"{name}@{alias} -> {alias_text(result['aliases'][alias])}")


def _decision_command(decision: str, doc: str) -> None:
    """Register `models promote` or `models rollback`: they differ only in the service call."""

    @models.command(decision, help=doc)
    @click.argument("name")
    @click.argument("alias")
    @click.pass_obj
    def command(obj: Context, name: str, alias: str) -> None:
        result = getattr(obj.service, decision)(name, alias)
        obj.emit(result, f"{name}@{alias} -> {alias_text(result['aliases'][alias])}")


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
