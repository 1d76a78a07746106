"""dsba.dense_predict calls XGBoost's C predict function directly; it must answer exactly what
Booster.inplace_predict answers, and hand anything else to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_iris

from dsba import dense_predict


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def trained(request) -> tuple[xgboost.Booster, np.ndarray]:
    """A small real model and float32 features with some values missing."""
    if request.param == "binary":
        features, labels = load_breast_cancer(return_X_y=True)
        params = {"objective": "binary:logistic"}
    else:
        features, labels = load_iris(return_X_y=True)
        params = {"objective": "multi:softprob", "num_class": 3}
    booster = xgboost.train({**params, "nthread": 1}, xgboost.DMatrix(features, labels), 20)
    x = features[:50].astype(np.float32)
    x[::7, 1] = np.nan
    return booster, x


def test_matches_inplace_predict_for_one_row_and_many(trained):
    booster, x = trained
    for rows in (x[:1].copy(), x):
        expected = booster.inplace_predict(rows)
        got = dense_predict.predict(booster, rows)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_the_answer_is_a_copy_not_xgboost_buffer(trained):
    booster, x = trained
    first = dense_predict.predict(booster, x[:1].copy())
    kept = first.copy()
    dense_predict.predict(booster, x[1:2].copy())
    np.testing.assert_array_equal(first, kept)


def test_other_inputs_go_through_inplace_predict(trained):
    booster, x = trained
    for other in (pd.DataFrame(x), x.astype(np.float64), np.asfortranarray(x)):
        np.testing.assert_allclose(
            dense_predict.predict(booster, other), booster.inplace_predict(x), rtol=1e-6
        )
