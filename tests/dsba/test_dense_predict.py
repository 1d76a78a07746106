"""dsba.model.dense_predict calls XGBoost's C predict function directly; it must answer exactly what
Booster.inplace_predict answers, and hand anything else to it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_iris

from dsba.model import dense_predict


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


def test_rows_in_turn_and_threads_each_get_their_own_answer(trained):
    booster, x = trained
    expected = booster.inplace_predict(x)
    for i in range(len(x)):
        np.testing.assert_array_equal(
            dense_predict.predict(booster, x[i : i + 1].copy()), expected[i : i + 1]
        )

    def score(i: int) -> np.ndarray:
        return dense_predict.predict(booster, x[i : i + 1].copy())

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(score, [i % len(x) for i in range(400)]))
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, expected[i % len(x) : i % len(x) + 1])
