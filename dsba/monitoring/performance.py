"""Live metrics from feedback labels, and the accuracy expected from probabilities alone (CBPE).

The estimate: each row is expected to be right with the calibrated probability of its
predicted class. Calibration is the reliability map measured on the test part (accuracy per
bin of the top probability), shrunk towards the bin's confidence where the bin saw few rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

# Weight, in rows, of a bin's raw confidence against the accuracy the test part measured in it.
PRIOR_ROWS = 5


def iso_day(epoch_us: int) -> str:
    """An epoch in microseconds as its UTC day, ISO 8601."""
    return datetime.fromtimestamp(epoch_us / 1e6, UTC).date().isoformat()


def metrics_from_confusion(matrix: np.ndarray, loss_sum: float) -> dict[str, Any]:
    """Accuracy, balanced accuracy, F1 macro and log loss of a confusion matrix (true x pred)."""
    n = int(matrix.sum())
    tp = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support > 0) | (predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(present, 2 * tp / (support + predicted), 0.0)
    return {
        "rows": n,
        "accuracy": float(tp.sum() / n) if n else None,
        "balanced_accuracy": float(recall[support > 0].mean()) if n else None,
        "f1_macro": float(f1[present].mean()) if n else None,
        "log_loss": float(loss_sum / n) if n else None,
        "confusion": matrix.astype(int).tolist(),
    }


def live_metrics(rows: list[tuple[int, str, str, int, float]], classes: list[str]) -> dict:
    """Metrics over the window and per day from (day, predicted, label, rows, loss) counts."""
    index = {label: i for i, label in enumerate(classes)}
    k = len(classes)
    total, total_loss = np.zeros((k, k)), 0.0
    days: dict[int, list] = defaultdict(lambda: [np.zeros((k, k)), 0.0])
    for day, predicted, label, n, loss in rows:
        if predicted not in index or label not in index:
            continue
        total[index[label], index[predicted]] += n
        days[day][0][index[label], index[predicted]] += n
        days[day][1] += loss
        total_loss += loss
    window = metrics_from_confusion(total, total_loss)
    per_day = [
        {"period": iso_day(day), **metrics_from_confusion(m, loss)}
        for day, (m, loss) in sorted(days.items())
    ]
    return {**window, "labels": classes, "per_day": per_day}


def calibrated_bins(calibration: dict[str, Any]) -> np.ndarray:
    """The expected accuracy of a row in each bin of the top probability."""
    count = np.asarray(calibration["count"], dtype=float)
    accuracy = np.asarray(calibration["accuracy"], dtype=float)
    confidence = np.asarray(calibration["confidence"], dtype=float)
    edges = np.asarray(calibration["edges"], dtype=float)
    middle = (edges[:-1] + edges[1:]) / 2
    prior = np.where(count > 0, confidence, middle)
    return (accuracy * count + prior * PRIOR_ROWS) / (count + PRIOR_ROWS)


def estimated_accuracy(rows: list[tuple[int, int, int]], calibration: dict[str, Any]) -> dict:
    """CBPE expected accuracy over the window and per day from (day, bin, rows) counts."""
    expected = calibrated_bins(calibration)
    per_day: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for day, bin_index, n in rows:
        per_day[day][0] += n * expected[bin_index]
        per_day[day][1] += n
    total = sum(n for _, n in per_day.values())
    hits = sum(h for h, _ in per_day.values())
    return {
        "method": "cbpe",
        "accuracy": float(hits / total) if total else None,
        "rows": int(total),
        "per_day": [
            {"period": iso_day(day), "accuracy": float(h / n), "rows": int(n)}
            for day, (h, n) in sorted(per_day.items())
        ],
    }


def calibration_note(calibration: dict[str, Any], max_ece: float) -> str | None:
    """A plain warning when the test part says the probabilities are too poorly calibrated."""
    ece = calibration.get("ece")
    if ece is None or ece <= max_ece:
        return None
    return (
        f"the model's probabilities are poorly calibrated on its test part (expected "
        f"calibration error {ece:.3f} > {max_ece}): the estimated accuracy may be off"
    )
