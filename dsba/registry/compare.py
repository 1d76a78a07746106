"""Compare versions of a model: metrics with their change, parameters, schema and data.

Works over whatever scalar metrics each version's metadata holds, so classification
(accuracy, ROC AUC...) and regression (rmse, mae, r2...) versions compare alike.
"""

from __future__ import annotations

import json
from typing import Any

from dsba.errors import InvalidInput

MAX_COMPARED = 10
# Display names of the metrics we know; any other key is shown as it is stored.
# Listed in the order a comparison shows them: headline metrics first, baselines last.
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1_macro": "F1 macro",
    "roc_auc": "ROC AUC",
    "average_precision": "Average precision",
    "log_loss": "Log loss",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "mse": "MSE",
    "mape": "MAPE",
    "precision_macro": "Precision macro",
    "recall_macro": "Recall macro",
    "f1_weighted": "F1 weighted",
    "precision_weighted": "Precision weighted",
    "recall_weighted": "Recall weighted",
    "baseline_accuracy": "Baseline accuracy",
}
# Errors and losses: a fall is an improvement. Every other metric is a score.
LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mse", "mape", "brier", "baseline_rmse"}
# What a trivial model scores on the same test rows: a reference, neither better nor worse.
BASELINES = {"baseline_accuracy", "baseline_rmse", "baseline_mae"}
# Binary metrics computed for one class: their label names it.
POSITIVE_CLASS_METRICS = {"roc_auc", "average_precision"}
TRAINING_CHOICES = ("target", "test_size", "seed")


def parse_versions(text: Any) -> list[int]:
    """Version numbers from '1,2,3' or a list; two to MAX_COMPARED distinct, ascending."""
    items = text.split(",") if isinstance(text, str) else list(text or [])
    versions: set[int] = set()
    for item in items:
        raw = str(item).strip()
        if not raw.isdigit() or int(raw) < 1:
            raise InvalidInput(
                f"versions must be version numbers separated by commas, like 1,2; got {raw!r}",
                {"versions": text},
            )
        versions.add(int(raw))
    if not 2 <= len(versions) <= MAX_COMPARED:
        raise InvalidInput(
            f"compare needs 2 to {MAX_COMPARED} different versions, got {len(versions)}",
            {"versions": text},
        )
    return sorted(versions)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def metric_label(key: str, metadata: dict[str, Any]) -> str:
    """What a metric is called, naming the positive class of a binary one: 'ROC AUC (yes)'."""
    label = METRIC_LABELS.get(key, key)
    classes = metadata.get("classes") or []
    if key in POSITIVE_CLASS_METRICS and metadata.get("task") == "binary" and len(classes) == 2:
        return f"{label} ({classes[1]})"
    return label


def metric_change(key: str, value: Any, previous: Any) -> dict[str, Any] | None:
    """The change of a metric against an earlier value, and whether it is an improvement."""
    now, before = _number(value), _number(previous)
    if now is None or before is None:
        return None
    delta = round(now - before, 6)
    better = None if delta == 0 or key in BASELINES else (delta < 0) == (key in LOWER_IS_BETTER)
    return {"change": delta, "previous": before, "better": better}


def metric_changes(metadata: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Every scalar metric's change against the previous version's, by metric name."""
    if not previous:
        return {}
    before = previous.get("metrics") or {}
    changes = {}
    for key, value in (metadata.get("metrics") or {}).items():
        change = metric_change(key, value, before.get(key))
        if change is not None:
            changes[key] = {**change, "version": previous.get("version")}
    return changes


def _direction(key: str) -> str:
    if key in BASELINES:
        return "reference"
    return "lower" if key in LOWER_IS_BETTER else "higher"


def _metric_rows(metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys: dict[str, None] = {}
    for meta in metas:
        for key, value in (meta.get("metrics") or {}).items():
            if _number(value) is not None or value is None:
                keys.setdefault(key)
    order = list(METRIC_LABELS)
    rows = []
    for key in sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k)):
        values = [(meta.get("metrics") or {}).get(key) for meta in metas]
        pairs = zip(values[:-1], values[1:], strict=True)
        if all(value is None for value in values):
            continue
        labels = {metric_label(key, meta) for meta in metas if key in (meta.get("metrics") or {})}
        rows.append(
            {
                "metric": key,
                # Versions with different positive classes share no one label: say so.
                "label": labels.pop()
                if len(labels) == 1
                else f"{METRIC_LABELS.get(key, key)} (positive classes differ)",
                "better": _direction(key),
                "values": [_number(value) for value in values],
                "changes": [None] + [metric_change(key, now, before) for before, now in pairs],
            }
        )
    return rows


def _same(values: list[Any]) -> bool:
    return len({json.dumps(value, sort_keys=True, default=str) for value in values}) == 1


def _param_rows(metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    settings = [
        {**{key: meta.get(key) for key in TRAINING_CHOICES}, **(meta.get("params") or {})}
        for meta in metas
    ]
    keys = list(dict.fromkeys(key for one in settings for key in one))
    return [
        {"name": key, "values": [one.get(key) for one in settings], "differs": not _same(values)}
        for key in keys
        for values in [[one.get(key) for one in settings]]
    ]


def _kinds(schema: dict[str, Any]) -> dict[str, str]:
    features = schema.get("features") or []
    return {f["name"]: f.get("kind") for f in features if isinstance(f, dict) and "name" in f}


def _schema_changes(schemas: list[dict[str, Any]], versions: list[int]) -> list[dict[str, Any]]:
    """Each version against the one before it: features added, dropped, or of another kind."""
    kinds = [_kinds(schema) for schema in schemas]
    changes = []
    for index in range(1, len(kinds)):
        before, now = kinds[index - 1], kinds[index]
        changes.append(
            {
                "version": versions[index],
                "against": versions[index - 1],
                "added": [name for name in now if name not in before],
                "dropped": [name for name in before if name not in now],
                "kind_changed": [
                    {"feature": name, "from": before[name], "to": now[name]}
                    for name in now
                    if name in before and before[name] != now[name]
                ],
            }
        )
    return changes


def _feature_rows(schemas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = [_kinds(schema) for schema in schemas]
    names = list(dict.fromkeys(name for one in kinds for name in one))
    return [
        {"name": name, "kinds": [one.get(name) for one in kinds], "differs": not _same(values)}
        for name in names
        for values in [[one.get(name) for one in kinds]]
    ]


def _data(meta: dict[str, Any]) -> dict[str, Any]:
    dataset = meta.get("dataset") or {}
    rows = dataset.get("rows")
    return {
        "source": dataset.get("source"),
        "sha256": dataset.get("sha256"),
        "bytes": dataset.get("bytes"),
        "rows": rows if isinstance(rows, dict) else {"total": rows},
    }


def compare_versions(
    name: str, metas: list[dict[str, Any]], schemas: list[dict[str, Any]]
) -> dict[str, Any]:
    """The comparison of versions (metadata and schemas in ascending version order)."""
    versions = [int(meta["version"]) for meta in metas]
    data = [_data(meta) for meta in metas]
    for index, one in enumerate(data):
        one["same_as_previous"] = index > 0 and one["sha256"] == data[index - 1]["sha256"]
    return {
        "name": name,
        "versions": [
            {
                "version": meta["version"],
                "task": meta.get("task"),
                "target": meta.get("target"),
                "classes": meta.get("classes"),
                "trained_at": meta.get("trained_at"),
                "best_iteration": meta.get("best_iteration"),
            }
            for meta in metas
        ],
        "metrics": _metric_rows(metas),
        "params": _param_rows(metas),
        "features": _feature_rows(schemas),
        "schema_changes": _schema_changes(schemas, versions),
        "data": data,
    }
