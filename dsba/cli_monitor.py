"""dsba monitor and dsba feedback: a version's drift and performance, and its ground truth."""

from __future__ import annotations

from typing import Any

import click

from dsba.cli_options import Context
from dsba.data.ingestion import read_source
from dsba.monitoring.feedback_store import items_from_frame

# The API's per-request limit: a longer file is sent in parts and the answers added up.
FEEDBACK_CHUNK = 10_000


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _errors(figures: dict[str, Any]) -> str:
    """RMSE, MAE, R² and interval coverage of a regression model, on one line."""
    return (
        f"rmse {_number(figures.get('rmse'))}  mae {_number(figures.get('mae'))}  "
        f"r2 {_number(figures.get('r2'))}  coverage {_number(figures.get('interval_coverage'))}"
    )


def _regression_lines(performance: dict[str, Any]) -> list[str]:
    test, live = performance["test"] or {}, performance["live"]
    nominal = test.get("interval_nominal")
    lines = [f"  test       {_errors(test)}" + (f" (nominal {nominal:g})" if nominal else "")]
    if live:
        lines.append(f"  live       {_errors(live)} over {live.get('rows', '?')} labelled rows")
    else:
        lines.append("  live       - (no true values sent as feedback in the window)")
    lines.append("  estimated  none: no label-free estimate exists for regression")
    return lines


def _performance_lines(performance: dict[str, Any]) -> list[str]:
    test, live, estimated = performance["test"] or {}, performance["live"], performance["estimated"]
    lines = [f"  test       accuracy {_number(test.get('accuracy'))}"]
    if live:
        lines.append(
            f"  live       accuracy {_number(live.get('accuracy'))} over "
            f"{live.get('rows', '?')} labelled rows"
        )
    else:
        lines.append("  live       - (no feedback labels in the window)")
    if estimated and estimated.get("accuracy") is not None:
        lines.append(f"  estimated  accuracy {_number(estimated['accuracy'])} (CBPE)")
        if estimated.get("warning"):
            lines.append(f"             {estimated['warning']}")
    return lines


def report_text(report: dict[str, Any]) -> str:
    """The report as a readable table: status, window, drift by severity, performance."""
    window = report["window"]
    lines = [
        f"{report['model']}  status: {report['status']}",
        f"window {window['since']} .. {window['until']}: {window['rows']} rows",
        *(f"note: {note}" for note in report.get("notes", [])),
    ]
    if report["features"]:
        lines += ["", f"{'feature':<24} {'method':<18} {'score':>7} {'limit':>7}  drift  issues"]
        for f in report["features"]:
            lines.append(
                f"{f['name'][:24]:<24} {f['method']:<18} {_number(f['score']):>7} "
                f"{_number(f['threshold']):>7}  {'YES' if f['drifted'] else 'no':<5}  "
                f"{', '.join(f.get('quality_issues') or []) or '-'}"
            )
    moved = report["prediction_drift"]
    lines += [
        "",
        f"prediction drift: {moved['method']} {_number(moved['score'])}"
        f"{'  DRIFTED' if moved['drifted'] else ''}",
        "performance:",
        *(
            _regression_lines(report["performance"])
            if report.get("task") == "regression"
            else _performance_lines(report["performance"])
        ),
    ]
    return "\n".join(lines)


@click.command()
@click.argument("ref")
@click.option("--since", help="Window start, ISO 8601 (default: 24 hours before --until).")
@click.option("--until", help="Window end, ISO 8601, excluded (default: now).")
@click.pass_obj
def monitor(obj: Context, ref: str, since: str | None, until: str | None) -> None:
    """Show drift, data quality and performance of model REF over a window of its log.

    \b
    Examples:
      dsba monitor penguins
      dsba monitor penguins:2 --since 2026-11-01 --until 2026-11-08 --json
      dsba monitor penguins@production --remote http://host:8000 --token $DSBA_TOKEN
    """
    report = obj.service.monitoring(ref, since, until)
    obj.emit(report, report_text(report))


@click.command()
@click.argument("ref")
@click.argument("file")
@click.option("--id-column", default="id", show_default=True, help="Column of prediction ids.")
@click.option("--label-column", default="label", show_default=True, help="Column of true labels.")
@click.pass_obj
def feedback(obj: Context, ref: str, file: str, id_column: str, label_column: str) -> None:
    """Record the true labels in FILE (CSV, Parquet, JSON lines) for predictions of REF.

    A regression model's labels are the true values, numbers: a file with any other label
    for one of its predictions is refused (nothing stored), naming the id.

    \b
    Examples:
      dsba feedback penguins labels.csv --id-column id --label-column species
      dsba feedback penguins labels.parquet --remote http://host:8000 --token $DSBA_TOKEN
    """
    # Ids and labels are read as text: an id like 007 must not become the number 7.
    frame = read_source(file, obj.settings, text_columns=frozenset({id_column, label_column}))
    items = items_from_frame(frame.frame, id_column, label_column)
    total: dict[str, Any] = {"accepted": 0, "unmatched": 0, "invalid": []}
    for start in range(0, len(items), FEEDBACK_CHUNK):
        part = items[start : start + FEEDBACK_CHUNK]
        # The client takes (items, model), as the API's body has them; the service (ref, items).
        answer = (
            obj.service.feedback(part, model=ref) if obj.remote else obj.service.feedback(ref, part)
        )
        total["accepted"] += answer["accepted"]
        total["unmatched"] += answer["unmatched"]
        total["invalid"] += [{**e, "index": e["index"] + start} for e in answer["invalid"]]
    reasons = [f"  row {e['index'] + 1}: {e['reason']}" for e in total["invalid"][:20]]
    more = len(total["invalid"]) - len(reasons)
    text = (
        f"accepted {total['accepted']}, unmatched {total['unmatched']}, "
        f"invalid {len(total['invalid'])}"
    )
    obj.emit(total, "\n".join([text, *reasons, *([f"  ... {more} more"] if more > 0 else [])]))
