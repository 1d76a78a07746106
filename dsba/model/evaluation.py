"""Metrics, confusion matrix, curves and importances of a trained model on its test part."""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb
from sklearn import metrics

from dsba.data.schema import FeatureSchema
from dsba.model.threshold import decide

MAX_CURVE_POINTS = 200


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    """Keep at most MAX_CURVE_POINTS evenly spaced points (first and last kept)."""
    n = len(arrays[0])
    index = np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).round().astype(int))
    return [[round(float(v), 6) for v in array[index]] for array in arrays]


def headline_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: list[Any],
    majority_index: int,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, precision/recall/F1, ROC AUC, log loss and the baseline."""
    k = len(classes)
    y_pred = decide(proba, threshold)
    labels = list(range(k))
    result: dict[str, Any] = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
        "baseline_accuracy": float(np.mean(y_true == majority_index)),
        "log_loss": metrics.log_loss(y_true, proba, labels=labels),
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        result.update({f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f})
    present = np.unique(y_true)
    if len(present) < 2:
        result["roc_auc"] = None
    elif k == 2:
        result["roc_auc"] = metrics.roc_auc_score(y_true, proba[:, 1])
    elif len(present) == k:
        result["roc_auc"] = metrics.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels)
    else:
        result["roc_auc"] = None
    p, r, f, s = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    result["per_class"] = {
        str(label): {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
        for i, label in enumerate(classes)
    }
    return _rounded(result)


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float | np.floating):
        return round(float(value), 6)
    return value


def curves(y_true: np.ndarray, proba: np.ndarray, classes: list[Any]) -> dict[str, list[dict]]:
    """ROC and precision-recall points per class (one-vs-rest; the positive class if binary)."""
    targets = [1] if len(classes) == 2 else range(len(classes))
    roc, pr = [], []
    for index in targets:
        positive = (y_true == index).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = metrics.roc_curve(positive, proba[:, index])
        precision, recall, _ = metrics.precision_recall_curve(positive, proba[:, index])
        fpr_t, tpr_t = _thin(fpr, tpr)
        recall_t, precision_t = _thin(recall[::-1], precision[::-1])
        label = str(classes[index])
        roc.append(
            {
                "label": label,
                "fpr": fpr_t,
                "tpr": tpr_t,
                "auc": round(float(metrics.auc(fpr, tpr)), 6),
            }
        )
        pr.append(
            {
                "label": label,
                "recall": recall_t,
                "precision": precision_t,
                "average_precision": round(
                    float(metrics.average_precision_score(positive, proba[:, index])), 6
                ),
            }
        )
    return {"roc": roc, "precision_recall": pr}


def feature_importance(booster: xgb.Booster, schema: FeatureSchema) -> list[dict[str, Any]]:
    """Total gain per input column (datetime parts summed into their column), largest first."""
    gains = booster.get_score(importance_type="total_gain")
    per_column: dict[str, float] = {f.name: 0.0 for f in schema.features}
    for column, gain in gains.items():
        per_column[column.split("__")[0] if column not in per_column else column] += float(gain)
    total = sum(per_column.values()) or 1.0
    ranked = sorted(per_column.items(), key=lambda item: item[1], reverse=True)
    return [{"feature": name, "gain": round(g / total, 6)} for name, g in ranked]


def learning_curve(evals_result: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Per-round metric values for the training and validation parts."""
    result: dict[str, Any] = {}
    for part, by_metric in evals_result.items():
        for metric, values in by_metric.items():
            result.setdefault(metric, {})[part] = [round(float(v), 6) for v in values]
    return result


def evaluate(
    booster: xgb.Booster,
    schema: FeatureSchema,
    y_true: np.ndarray,
    proba: np.ndarray,
    majority_index: int,
    evals_result: dict[str, dict[str, list[float]]],
    threshold: float | None = None,
    importance: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the model page and metadata show about a trained model.

    importance replaces the trees' gain importance (a linear booster has no splits).
    """
    k = len(schema.classes)
    predicted = decide(proba, threshold)
    matrix = metrics.confusion_matrix(y_true, predicted, labels=list(range(k)))
    return {
        "metrics": headline_metrics(y_true, proba, schema.classes, majority_index, threshold),
        "confusion_matrix": {"labels": [str(c) for c in schema.classes], "matrix": matrix.tolist()},
        "curves": curves(y_true, proba, schema.classes),
        "feature_importance": importance or feature_importance(booster, schema),
        "learning_curve": learning_curve(evals_result),
    }
