"""A regression trained on a real Dask cluster works as one trained locally."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from dsba.data.ingestion import Dataset
from dsba.errors import InvalidInput
from dsba.model.dask_training import (
    CALIBRATION,
    FIT,
    TEST,
    VALIDATION,
    connect,
    row_parts,
    train_model_dask,
)
from dsba.model.pipeline import register_result
from dsba.model.prediction import predict_frame
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.slow]

FAST = {"n_estimators": 60, "early_stopping_rounds": 10}


@pytest.fixture
def client(dask_cluster) -> Iterator[distributed.Client]:
    """A client of the module's cluster, made the way the job process makes one."""
    with connect(dask_cluster.scheduler_address) as connected:
        yield connected


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


def test_without_calibration_the_parts_are_a_classifiers(diabetes):
    plain = row_parts(diabetes, 42, 0.2, 0.1)
    assert np.array_equal(plain, row_parts(diabetes, 42, 0.2, 0.1, 0.0))
    with_calibration = row_parts(diabetes, 42, 0.2, 0.1, 0.2)
    # The test part is the same rows; calibration takes its share of the others.
    assert np.array_equal(plain == TEST, with_calibration == TEST)
    assert set(np.unique(with_calibration)) == {TEST, CALIBRATION, VALIDATION, FIT}


def test_a_dask_regression_matches_local_training(client, tmp_path, diabetes):
    path = tmp_path / "data.parquet"
    diabetes.to_parquet(path, index=False)
    result, where = train_model_dask(client, path, "target", params=FAST, interval=0.8)
    assert result.schema.task == "regression" and result.schema.classes == []
    rows = result.rows
    assert rows["labelled"] == rows["total"] == 442
    assert sum(rows[p] for p in ("train", "validation", "calibration", "test")) == 442
    metrics = result.evaluation["metrics"]
    local = train_model(diabetes, "target", params=FAST, interval=0.8, threads=1)
    # Another split (row hash, not a shuffle) of 442 rows: close, not equal.
    assert metrics["r2"] > 0.2 and abs(metrics["r2"] - local.evaluation["metrics"]["r2"]) < 0.2
    assert metrics["rmse"] < metrics["baseline_rmse"]
    assert result.intervals["coverage"] == 0.8
    assert 0.6 <= metrics["interval_coverage"] <= 0.95
    assert where["split"].startswith("seeded hash")
    registry = ModelRegistry(tmp_path / "registry")
    dataset = Dataset(diabetes, "test", "parquet", "0" * 64, 1)
    register_result(registry, "d", result, dataset, test_size=0.2, seed=42, ran_on="dask")
    model = registry.load("d")
    assert model.metadata["task"] == "regression"
    scored = predict_frame(model, diabetes.drop(columns="target").head(4))
    assert scored.intervals.shape == (4, 2)
    assert (scored.intervals[:, 0] <= np.array(scored.labels)).all()


@pytest.mark.parametrize(
    ("values", "task", "message"),
    [
        (["a", "b", "c", "d"] * 10, "regression", "holds text or true/false values"),
        ([0.5] * 39 + [np.inf], None, "has an infinite value (inf"),
    ],
)
def test_a_dask_regression_refuses_what_local_training_refuses(
    client, tmp_path, values, task, message
):
    frame = pd.DataFrame({"x": np.arange(len(values)) % 7, "y": values})
    path = tmp_path / "data.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(InvalidInput, match=re.escape(message)):
        train_model_dask(client, path, "y", params=FAST, task=task)
