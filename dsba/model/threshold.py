"""The decision threshold of a binary classifier: choose it, tabulate it, apply it, change it."""

from __future__ import annotations

from typing import Any

import numpy as np

from dsba.errors import InvalidInput
from dsba.registry.model_registry import ModelRegistry

OPTIMIZE_CHOICES = ("accuracy", "balanced_accuracy", "f1", "log_loss", "roc_auc")
# Metrics a threshold moves; log loss and ROC AUC read probabilities only, so they keep 0.5.
THRESHOLD_METRICS = ("balanced_accuracy", "f1")
DEFAULT_THRESHOLD = 0.5
# The candidate thresholds, and the ones the model page's table holds (~100 rows of counts).
_CANDIDATES = np.round(np.linspace(0.005, 0.995, 199), 3)
TABLE_THRESHOLDS = np.round(np.linspace(0.0, 0.99, 100), 2)


def check_optimize(value: str | None) -> str:
    """Return the metric to optimize (accuracy when none), or say which ones exist."""
    chosen = value or "accuracy"
    if chosen not in OPTIMIZE_CHOICES:
        raise InvalidInput(
            f"optimize must be one of {', '.join(OPTIMIZE_CHOICES)}, got {value!r}",
            {"optimize": "invalid"},
        )
    return chosen


def check_threshold(value: Any) -> float:
    """Return value as a threshold strictly between 0 and 1, or raise InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("threshold must be a number between 0 and 1", {"threshold": "invalid"})
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidInput(
            f"threshold must be a number between 0 and 1, got {value!r}", {"threshold": "invalid"}
        ) from exc
    if not 0.0 < number < 1.0:
        raise InvalidInput(
            f"threshold must be strictly between 0 and 1, got {value!r}", {"threshold": "invalid"}
        )
    return round(number, 6)


def decide(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: the positive class when p >= threshold (binary), else the most probable."""
    if threshold is None or proba.shape[1] != 2:
        return proba.argmax(axis=1)
    return (proba[:, 1] >= threshold).astype(np.int64)


def _counts(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """True/false positives and negatives at every threshold (rows: thresholds)."""
    predicted = p[None, :] >= thresholds[:, None]
    positive = (y == 1)[None, :]
    tp = (predicted & positive).sum(axis=1)
    fp = (predicted & ~positive).sum(axis=1)
    fn = positive.sum() - tp
    tn = (~positive).sum() - fp
    return tp, fp, fn, tn


def _scores(metric: str, tp, fp, fn, tn) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "f1":
            return np.nan_to_num(2 * tp / (2 * tp + fp + fn))
        recall = np.nan_to_num(tp / (tp + fn))
        specificity = np.nan_to_num(tn / (tn + fp))
        return (recall + specificity) / 2


def choose_threshold(y: np.ndarray, p: np.ndarray, metric: str) -> float:
    """The threshold maximising metric on held-out (y, p); 0.5 for metrics it does not move.

    Ties are common on few positives (a plateau of equal scores): the middle of the best
    thresholds is taken, so the choice does not sit on the edge of a run of equal scores.
    """
    if metric not in THRESHOLD_METRICS or len(np.unique(y)) < 2:
        return DEFAULT_THRESHOLD
    scores = _scores(metric, *_counts(y, p, _CANDIDATES))
    best = _CANDIDATES[np.isclose(scores, scores.max())]
    return float(np.median(best).round(3))


def threshold_table(y: np.ndarray, p: np.ndarray) -> dict[str, list]:
    """Confusion counts on the test part at ~100 thresholds; the page derives the rest."""
    tp, fp, fn, tn = _counts(y, p, TABLE_THRESHOLDS)
    return {
        "threshold": TABLE_THRESHOLDS.tolist(),
        "tp": tp.tolist(),
        "fp": fp.tolist(),
        "fn": fn.tolist(),
        "tn": tn.tolist(),
    }


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
        if k not in ("name", "version", "created_at", "artifacts")
    }
    metadata["threshold"] = value
    metadata["threshold_from"] = {
        "version": model.version,
        "threshold": model.metadata.get("threshold"),
    }
    evaluation = metadata.get("evaluation") or {}
    changed = _metrics_at(evaluation.get("threshold_table") or {}, value, metadata["classes"])
    if changed:
        metadata["metrics"] = {**metadata.get("metrics", {}), **changed}
        table = evaluation["threshold_table"]
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
    version = registry.save_version(
        model.name, model.booster, model.schema, metadata, artifacts=model.artifacts or None
    )
    return registry.get_metadata(f"{model.name}:{version}")
