"""Save a binary classifier's booster again as a new version with another decision threshold."""

from __future__ import annotations

import copy
from typing import Any

from dsba.errors import InvalidInput
from dsba.model.threshold import check_threshold
from dsba.monitoring.reference import REFERENCE_FILE
from dsba.registry.model_registry import ModelRegistry


def _metrics_at(
    table: dict[str, list], threshold: float, classes: list[Any]
) -> dict[str, Any] | None:
    """Test-part metrics at a threshold of the table (None when it holds no such row)."""
    rows = [i for i, t in enumerate(table.get("threshold", [])) if abs(t - threshold) < 1e-9]
    if not rows:
        return None
    tp, fp, fn, tn = (float(table[k][rows[0]]) for k in ("tp", "fp", "fn", "tn"))
    n = tp + fp + fn + tn

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    recall, specificity = ratio(tp, tp + fn), ratio(tn, tn + fp)
    precision, npv = ratio(tp, tp + fp), ratio(tn, tn + fn)
    f1_pos, f1_neg = ratio(2 * tp, 2 * tp + fp + fn), ratio(2 * tn, 2 * tn + fn + fp)
    per_class = {
        str(classes[0]): {
            "precision": npv,
            "recall": specificity,
            "f1": f1_neg,
            "support": tn + fp,
        },
        str(classes[1]): {
            "precision": precision,
            "recall": recall,
            "f1": f1_pos,
            "support": tp + fn,
        },
    }
    return {
        "per_class": {
            label: {k: round(v, 6) if k != "support" else int(v) for k, v in row.items()}
            for label, row in per_class.items()
        },
        "accuracy": round(ratio(tp + tn, n), 6),
        "balanced_accuracy": round((recall + specificity) / 2, 6),
        "precision_macro": round((precision + npv) / 2, 6),
        "recall_macro": round((recall + specificity) / 2, 6),
        "f1_macro": round((f1_pos + f1_neg) / 2, 6),
    }


def _reference_at(reference: dict[str, Any], table: dict[str, list], i: int) -> dict[str, Any]:
    """The reference with the predicted class shares of the test part at table row i.

    The training part's predictions at the new threshold are not stored, so the shares come
    from the test part alone: prediction drift then compares served labels with the labels
    this threshold gives, instead of flagging the threshold change itself as drift.
    """
    result = copy.deepcopy(reference)
    prediction = result.get("prediction")
    if isinstance(prediction, dict):
        n = table["tp"][i] + table["fp"][i] + table["fn"][i] + table["tn"][i]
        positive = table["tp"][i] + table["fp"][i]
        prediction["class_shares"] = [(n - positive) / n, positive / n] if n else [0.0, 0.0]
        prediction["rows"] = n
    return result


def save_threshold_version(registry: ModelRegistry, ref: str, threshold: Any) -> dict[str, Any]:
    """Save a new version of ref's binary model with another threshold; return its metadata.

    Versions are immutable, so a threshold change is a new version: the same booster, schema,
    calibration and artifacts, with the threshold (and the test metrics it changes) replaced.
    """
    value = check_threshold(threshold)
    model = registry.load(ref)
    if len(model.metadata.get("classes", [])) != 2:
        raise InvalidInput("only a binary classifier has a decision threshold", {"model": ref})
    metadata = {
        k: v
        for k, v in model.metadata.items()
        if k not in ("name", "version", "created_at", "artifacts", "metrics_threshold")
    }
    metadata["threshold"] = value
    metadata["threshold_from"] = {
        "version": model.version,
        "threshold": model.metadata.get("threshold"),
    }
    evaluation = metadata.get("evaluation") or {}
    table, i = evaluation.get("threshold_table") or {}, 0
    changed = _metrics_at(table, value, metadata["classes"])
    if changed:
        metadata["metrics"] = {**metadata.get("metrics", {}), **changed}
        i = table["threshold"].index(min(table["threshold"], key=lambda t: abs(t - value)))
        labels = (evaluation.get("confusion_matrix") or {}).get("labels")
        metadata["evaluation"] = {
            **evaluation,
            "confusion_matrix": {
                "labels": labels,
                "matrix": [[table["tn"][i], table["fp"][i]], [table["fn"][i], table["tp"][i]]],
            },
        }
    else:
        # Not a row of the test table: the stored test metrics stay those of the old threshold.
        metadata["metrics_threshold"] = model.metadata.get("threshold")
    artifacts = dict(model.artifacts)
    if changed and REFERENCE_FILE in artifacts:
        artifacts[REFERENCE_FILE] = _reference_at(artifacts[REFERENCE_FILE], table, i)
    version = registry.save_version(
        model.name, model.booster, model.schema, metadata, artifacts=artifacts or None
    )
    return registry.get_metadata(f"{model.name}:{version}")
