"""Turn a version's evaluation into what the model page draws: chart data and heat-map cells."""

from __future__ import annotations

from typing import Any

HEAT_LEVELS = 10
MAX_IMPORTANCE_BARS = 20
# The loss is the most telling learning curve; error rates come next (rmse for regression).
LEARNING_METRICS = ("logloss", "mlogloss", "error", "merror", "auc", "rmse")


def heat_map(confusion: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of the confusion matrix with each cell's share of its row and a colour level."""
    if not confusion:
        return []
    rows = []
    for label, counts in zip(confusion["labels"], confusion["matrix"], strict=True):
        total = sum(counts) or 1
        cells = [
            {
                "count": count,
                "share": count / total,
                "level": round(HEAT_LEVELS * count / total),
            }
            for count in counts
        ]
        rows.append({"label": label, "total": sum(counts), "cells": cells})
    return rows


def learning_curve(curves: dict[str, Any]) -> dict[str, Any] | None:
    """The most telling metric's train and validation series, per boosting round."""
    if not curves:
        return None
    metric = next((m for m in LEARNING_METRICS if m in curves), next(iter(curves)))
    parts = curves[metric]
    return {
        "metric": metric,
        "train": parts.get("train", []),
        "validation": parts.get("validation", []),
    }


def decision_data(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """Threshold table, threshold in use and reliability bins of a binary classifier, or None."""
    evaluation = metadata.get("evaluation") or {}
    table = evaluation.get("threshold_table")
    if not table or len(metadata.get("classes") or []) != 2:
        return None
    threshold = metadata.get("threshold")
    return {
        "table": table,
        "threshold": 0.5 if threshold is None else threshold,
        "positive": str(metadata["classes"][1]),
        "negative": str(metadata["classes"][0]),
        "calibration": evaluation.get("calibration"),
    }


def chart_data(metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON the model page's script reads to draw its charts."""
    evaluation = metadata.get("evaluation") or {}
    curves = evaluation.get("curves") or {}
    return {
        "roc": curves.get("roc", []),
        "precision_recall": curves.get("precision_recall", []),
        "importance": (evaluation.get("feature_importance") or [])[:MAX_IMPORTANCE_BARS],
        "learning_curve": learning_curve(evaluation.get("learning_curve") or {}),
        "best_iteration": metadata.get("best_iteration"),
    }
