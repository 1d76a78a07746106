"""The regression parts of training on Dask: target checks, the parts, two boosters, intervals.

Imported only by dsba.model.dask_training (so only when a Dask scheduler is configured). As
locally, a calibration part that neither booster sees calibrates the intervals; it is a share
of the non-test rows picked by the same seeded row hash, capped at MAX_CALIBRATION_ROWS in
expectation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask
import dask.dataframe as dd
import distributed
import numpy as np
import xgboost as xgb
import xgboost.dask as dxgb

from dsba.data.schema import FeatureSchema
from dsba.errors import InvalidInput
from dsba.model import intervals as conformal
from dsba.model.boosting import ProgressCallback
from dsba.model.regression import (
    CALIBRATION_FRACTION,
    MAX_CALIBRATION_ROWS,
    calibrate_and_evaluate,
    check_objective_target,
    regression_params,
    staged_progress,
)

# Fit(client, prepared, schema, native params, checked, seed, progress) -> xgboost.dask output.
Fit = Callable[..., dict[str, Any]]


def check_target_dask(target: dd.Series) -> None:
    """Refuse an infinite or constant target, judged on every labelled row (not a sample)."""
    low, high = dask.compute(target.min(), target.max())
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        found = low if not np.isfinite(low) else high
        raise InvalidInput(
            f"target column {target.name!r} has an infinite value ({found!r}); "
            "regression needs finite numbers",
            {"target": str(target.name)},
        )
    if low == high:
        raise InvalidInput(
            f"target column {target.name!r} is constant ({low!r}); there is nothing to predict",
            {"target": str(target.name)},
        )


def calibration_share(labelled_rows: int, test_size: float) -> float:
    """The share of non-test rows that calibrates intervals (at most MAX_CALIBRATION_ROWS)."""
    train_rows = max(labelled_rows * (1.0 - test_size), 1.0)
    return min(CALIBRATION_FRACTION, MAX_CALIBRATION_ROWS / train_rows)


def _trimmed(output: dict[str, Any]) -> tuple[xgb.Booster, int]:
    best = int(output["booster"].best_iteration)
    # Keep only the trees up to the best round, so serving needs no iteration_range.
    return output["booster"][: best + 1], best


def train_regression_dask(
    client: distributed.Client,
    prepared: dd.DataFrame,
    schema: FeatureSchema,
    checked: dict[str, Any],
    *,
    parts: dict[str, int],
    label: str,
    part: str,
    fit: Fit,
    seed: int,
    interval: float,
    progress: ProgressCallback | None,
) -> tuple[xgb.Booster, int, dict[str, Any], conformal.IntervalModel, dict[str, int]]:
    """Fit value and quantile boosters, calibrate intervals, evaluate on the test part."""
    counts = prepared[part].value_counts().compute()
    rows = {name: int(counts.get(code, 0)) for name, code in parts.items()}
    if any(count == 0 for count in rows.values()):
        raise InvalidInput(
            f"too few labelled rows ({sum(rows.values())}) for a "
            "train/validation/calibration/test split"
        )
    low = prepared[label].min().compute()
    check_objective_target(checked["objective"], schema.target, np.array([low]))
    native = regression_params(checked, seed, threads=0)
    total = checked["n_estimators"]
    stages = [staged_progress(progress, stage, total) for stage in (0, 1)]
    output = fit(client, prepared, schema, native, checked, seed, stages[0])
    booster, best = _trimmed(output)
    quantile_params = conformal.quantile_params(native, interval)
    quantile_output = fit(client, prepared, schema, quantile_params, checked, seed, stages[1])
    quantile_booster, _ = _trimmed(quantile_output)
    held = {}
    for name in ("calibration", "test"):
        rows_of = prepared[prepared[part] == parts[name]]
        x = rows_of[booster.feature_names]
        held[name] = [
            rows_of[label],
            dxgb.inplace_predict(client, booster, x),
            dxgb.inplace_predict(client, quantile_booster, x),
        ]
    train_mean = prepared[prepared[part] != parts["test"]][label].mean()
    # Only these come back to this process: the test part and at most a few thousand more.
    computed = client.compute([*held["calibration"], *held["test"], train_mean], sync=True)
    arrays = [np.asarray(value, dtype=np.float64) for value in computed[:6]]
    evaluation, interval_model, _ = calibrate_and_evaluate(
        booster,
        quantile_booster,
        schema,
        tuple(arrays[:3]),
        tuple(arrays[3:]),
        float(computed[6]),
        interval,
        output["history"],
        seed,
    )
    return booster, best, evaluation, interval_model, rows
