"""Class weights for the metrics that count every class alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost as xgb


def class_weights(
    y: np.ndarray, power: float, reference: np.ndarray | None = None
) -> np.ndarray | None:
    """Row weights of y: inverse class frequency in reference (default y) to power; None at 0.

    Sample weights rather than scale_pos_weight, so binary and multiclass share one rule;
    scaled to a mean of 1 over the reference rows, so min_child_weight keeps its meaning.
    """
    if not power:
        return None
    reference = y if reference is None else reference
    counts = np.bincount(reference.astype(np.int64), minlength=int(y.max()) + 1)
    present = counts > 0
    factors = np.ones(len(counts))
    factors[present] = (len(reference) / (present.sum() * counts[present])) ** power
    return factors[y.astype(np.int64)] / factors[reference.astype(np.int64)].mean()


def weighted_matrix(
    x: Any, y: np.ndarray, power: float, threads: int, reference: np.ndarray | None = None
) -> xgb.DMatrix:
    """A DMatrix of (x, y) with the class weights class_weights gives y at power."""
    return xgb.DMatrix(
        x,
        y,
        weight=class_weights(y, power, reference),
        enable_categorical=True,
        nthread=threads or 0,
    )
