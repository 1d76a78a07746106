"""Regression end to end in the core: task inference, refusals, training, intervals, scoring."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from dsba.data.schema import FeatureSchema, infer_schema, prepare_features
from dsba.data.target import infer_task
from dsba.errors import InvalidInput
from dsba.model.intervals import QUANTILE_ARTIFACT, calibrate, conformal_quantile
from dsba.model.pipeline import register_result
from dsba.model.prediction import predict_frame, predict_records
from dsba.model.regression_evaluation import regression_metrics
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry

PARAMS = {"n_estimators": 60}
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def mass(penguins_frame) -> pd.DataFrame:
    """Penguins with body mass (grams, some missing) as the target."""
    return penguins_frame


@pytest.fixture(scope="module")
def mass_run(mass):
    return train_model(mass, "body_mass_g", params=PARAMS, threads=1)


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (np.linspace(0.1, 9.7, 30), "regression"),  # fractions
        (list(range(60)) * 2, "regression"),  # many whole numbers
        ([1, 2, 3, 4, 5] * 6, "classification"),  # a few whole numbers: a rating
        ([1.0, 2.0, np.nan] * 10, "classification"),  # blanks make ints floats
        ([True, False] * 15, "classification"),
        (["a", "b", "c"] * 10, "classification"),
        (["x" + str(i) for i in range(60)], "classification"),  # text is never a quantity
    ],
)
def test_the_task_follows_the_target(values, task):
    assert infer_task(pd.Series(values, name="y")) == task


def _frame(target) -> pd.DataFrame:
    n = len(target)
    return pd.DataFrame({"a": RNG.normal(size=n), "b": RNG.choice(["u", "v"], n), "y": target})


@pytest.mark.parametrize(
    ("target", "task", "message"),
    [
        (["p", "q", "r"] * 10, "regression", "holds text or true/false values"),
        ([1.5, np.inf] + [2.5] * 28, None, "has an infinite value (inf on row 1)"),
        ([3.25] * 30, None, "is constant (3.25)"),
        (list(RNG.normal(size=19)), None, "has 19 labelled rows; regression needs at least 20"),
        (list(range(100, 130)), "regression", "looks ID-like"),
        ([1.5] * 30, "ranking", "task must be one of classification, regression"),
    ],
)
def test_unlearnable_regression_targets_are_explained(target, task, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        infer_schema(_frame(target), "y", task=task)


def test_a_rating_trains_as_regression_when_asked():
    frame = _frame(list(range(1, 11)) * 5)
    assert infer_schema(frame, "y").classes == list(range(1, 11))
    schema = infer_schema(frame, "y", task="regression")
    assert (schema.task, schema.classes) == ("regression", [])
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_an_old_schema_without_a_task_is_a_classifier():
    stored = infer_schema(_frame(["a", "b"] * 15), "y").to_dict()
    del stored["task"]
    assert FeatureSchema.from_dict(stored).task == "classification"


def test_training_reports_regression_metrics_and_intervals(mass, mass_run):
    evaluation, metrics = mass_run.evaluation, mass_run.evaluation["metrics"]
    assert mass_run.schema.task == "regression" and mass_run.schema.classes == []
    assert metrics["r2"] > 0.7 and metrics["rmse"] < metrics["baseline_rmse"]
    assert 0 < metrics["mape"] < 0.2 and metrics["median_absolute_error"] > 0
    assert evaluation["baseline"]["rmse"] == metrics["baseline_rmse"]
    assert abs(evaluation["baseline"]["r2"]) < 0.05  # the training mean explains ~nothing
    rows = mass_run.rows
    assert rows["labelled"] == mass["body_mass_g"].notna().sum() == 342
    assert rows["train"] + rows["validation"] + rows["calibration"] + rows["test"] == 342
    points = evaluation["predicted_vs_actual"]
    assert len(points["actual"]) == len(points["predicted"]) == rows["test"]
    deciles = evaluation["error_by_decile"]
    assert [d["decile"] for d in deciles] == list(range(1, 11))
    assert sum(d["count"] for d in deciles) == rows["test"]
    assert all(d["low"] <= d["high"] for d in deciles)
    shown = evaluation["intervals"]
    assert shown["nominal"] == 0.9 and set(shown["candidates"]) == {"absolute", "cqr"}
    assert shown["coverage"] == metrics["interval_coverage"]
    assert shown["candidates"][shown["method"]]["coverage"] == shown["coverage"]
    assert "rmse" in evaluation["learning_curve"]
    assert "confusion_matrix" not in evaluation and "curves" not in evaluation


def test_mape_is_none_when_a_target_is_zero():
    assert regression_metrics(np.array([0.0, 2.0]), np.array([1.0, 2.0]))["mape"] is None
    assert regression_metrics(np.array([4.0, 2.0]), np.array([5.0, 2.0]))["mape"] == 0.125


def test_training_is_deterministic_for_a_seed(mass, mass_run):
    again = train_model(mass, "body_mass_g", params=PARAMS, threads=1)
    assert again.evaluation == mass_run.evaluation


def test_objective_is_checked_against_the_target(mass):
    frame = _frame(RNG.normal(size=40))
    with pytest.raises(InvalidInput, match="objective 'reg:gamma' needs a positive target"):
        train_model(frame, "y", params={"objective": "reg:gamma"})
    with pytest.raises(InvalidInput, match="parameter 'objective' must be one of"):
        train_model(frame, "y", params={"objective": "binary:logistic"})
    with pytest.raises(InvalidInput, match="unknown parameter 'objective'"):
        train_model(mass, "species", params={"objective": "reg:gamma"})
    gamma = train_model(mass, "body_mass_g", params={**PARAMS, "objective": "reg:gamma"})
    assert gamma.params["objective"] == "reg:gamma" and gamma.evaluation["metrics"]["r2"] > 0.6


@pytest.mark.parametrize("interval", [0.3, 1.0, "wide"])
def test_interval_out_of_range_is_refused(mass, interval):
    with pytest.raises(InvalidInput, match="interval must be"):
        train_model(mass, "body_mass_g", interval=interval)


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 20.0)  # 19 scores: ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(scores[:5], 0.9) == 5.0  # too few: the largest


def test_adaptive_intervals_win_where_the_noise_varies():
    # Noise ten times larger for half the rows: a constant width over-covers the quiet half
    # and under-covers the loud one; quantiles that follow the noise are narrower overall.
    n = 2000
    loud = RNG.random(n) < 0.5
    y = RNG.normal(size=n) * np.where(loud, 10.0, 1.0)
    spread = np.where(loud, 16.45, 1.645)
    chosen = calibrate(y, np.zeros(n), np.column_stack([-spread, spread]), object(), 0.9, 0)
    assert chosen.method == "cqr"
    assert chosen.candidates["cqr"]["calibration_coverage"] >= 0.87
    widths = {m: c["calibration_mean_width"] for m, c in chosen.candidates.items()}
    assert widths["cqr"] < 0.8 * widths["absolute"]
    steady = calibrate(y[~loud], np.zeros((~loud).sum()), None, None, 0.9, 0)
    assert steady.method == "absolute" and list(steady.candidates) == ["absolute"]


def _stored(tmp_path, result, frame):
    from dsba.data.ingestion import Dataset

    registry = ModelRegistry(tmp_path / "registry")
    dataset = Dataset(frame, "test", "csv", "0" * 64, 1)
    register_result(registry, "m", result, dataset, test_size=0.2, seed=42, ran_on="test")
    return registry, ModelRegistry(tmp_path / "registry").load("m")


def test_a_stored_regressor_predicts_values_with_intervals(tmp_path, mass, mass_run):
    registry, model = _stored(tmp_path, mass_run, mass)
    assert model.metadata["task"] == "regression" and model.metadata["classes"] == []
    assert model.metadata["intervals"]["coverage"] == 0.9
    features = mass.drop(columns="body_mass_g").head(5)
    scored = predict_frame(model, features, contributions=True)
    assert scored.is_regression and scored.task == "regression"
    assert scored.probabilities.shape == (5, 0) and scored.intervals.shape == (5, 2)
    direct = mass_run.booster.inplace_predict(prepare_features(mass_run.schema, features)[0])
    np.testing.assert_allclose(scored.labels, direct, rtol=1e-6)
    record = scored.records()[0]
    assert set(record) == {"value", "interval", "contributions"}
    low, high = record["interval"]
    assert low <= record["value"] <= high
    assert set(record["contributions"]) == {f.name for f in mass_run.schema.features}
    # They explain the value itself: the bias plus their sum is the prediction (SHAP).
    bias = scored.labels[0] - sum(record["contributions"].values())
    second = scored.records()[1]
    assert bias + sum(second["contributions"].values()) == pytest.approx(second["value"], 1e-3)
    framed = scored.to_frame(features)
    assert list(framed.columns[-3:]) == ["prediction", "prediction_lower", "prediction_upper"]
    json.dumps(scored.records())
    clean = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in features.to_dict("records")
    ]
    fast = predict_records(model, clean)
    assert fast.labels == scored.labels
    np.testing.assert_array_equal(fast.intervals, scored.intervals)


def test_a_cqr_interval_booster_is_stored_as_xgboost_json(tmp_path, mass, mass_run, monkeypatch):
    from dsba.model import intervals

    # Force the adaptive method, to check it survives the store: the figures do not matter.
    original = intervals.calibrate

    def forced(y, predicted, quantiles, booster, nominal, seed):
        chosen = original(y, predicted, quantiles, booster, nominal, seed)
        chosen.method, chosen.quantile_booster = "cqr", booster
        chosen.q = chosen.candidates["cqr"]["q"]
        return chosen

    monkeypatch.setattr(intervals, "calibrate", forced)
    result = train_model(mass, "body_mass_g", params=PARAMS, threads=1)
    assert result.intervals["artifact"] == QUANTILE_ARTIFACT
    registry, model = _stored(tmp_path, result, mass)
    stored = tmp_path / "registry" / "models" / "m" / "1" / QUANTILE_ARTIFACT
    assert json.loads(stored.read_text())["learner"]["objective"]["name"] == "reg:quantileerror"
    scored = predict_frame(model, mass.drop(columns="body_mass_g"))
    width = scored.intervals[:, 1] - scored.intervals[:, 0]
    assert np.ptp(width) > 0  # adaptive: not one width for every row
    assert (scored.intervals[:, 0] <= np.array(scored.labels)).all()


def test_regression_on_the_diabetes_set_keeps_its_shape():
    frame = load_diabetes(as_frame=True).frame
    result = train_model(frame, "target", params=PARAMS, threads=1)
    assert result.schema.task == "regression"
    assert result.evaluation["metrics"]["r2"] > 0.2
