"""Training and evaluation on small real data sets: splits, early stopping, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from dsba.data.schema import encode_target, prepare_features
from dsba.errors import InvalidInput
from dsba.model import training
from dsba.model.training import TrainingResult, train_model

PARAMS = {"n_estimators": 400, "early_stopping_rounds": 10}


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    """Return breast cancer as a frame: 569 rows, 30 numeric columns, binary 'target'."""
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    """Return iris with its species names as string labels."""
    data = load_iris(as_frame=True)
    frame = data.frame.copy()
    frame["target"] = data.target_names[data.target]
    return frame


@pytest.fixture(scope="module")
def cancer_run(cancer) -> tuple[TrainingResult, list[tuple[int, int]]]:
    """Train on breast cancer once, recording the progress callback's calls."""
    calls: list[tuple[int, int]] = []
    result = train_model(
        cancer, "target", params=PARAMS, threads=1, progress=lambda d, t: calls.append((d, t))
    )
    return result, calls


def test_binary_classification_and_its_evaluation(cancer_run):
    result, _ = cancer_run
    assert result.schema.classes == [0, 1]
    evaluation = result.evaluation
    metrics = evaluation["metrics"]
    assert metrics["accuracy"] >= 0.9 and metrics["roc_auc"] >= 0.95
    assert metrics["baseline_accuracy"] == pytest.approx(72 / 114, abs=1e-6)
    assert metrics["accuracy"] > metrics["baseline_accuracy"]
    for key in ("balanced_accuracy", "log_loss", "precision_macro", "recall_weighted", "f1_macro"):
        assert 0 < metrics[key] < 1.5, key
    assert set(metrics["per_class"]) == {"0", "1"}
    assert sum(c["support"] for c in metrics["per_class"].values()) == result.rows["test"]
    matrix = np.array(evaluation["confusion_matrix"]["matrix"])
    assert evaluation["confusion_matrix"]["labels"] == ["0", "1"]
    assert matrix.shape == (2, 2) and matrix.sum() == result.rows["test"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["accuracy"], abs=1e-6)
    [roc] = evaluation["curves"]["roc"]
    [pr] = evaluation["curves"]["precision_recall"]
    assert roc["label"] == pr["label"] == "1"
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    assert roc["auc"] == pytest.approx(metrics["roc_auc"], abs=1e-6)
    assert len(pr["recall"]) == len(pr["precision"]) <= 200
    importance = evaluation["feature_importance"]
    assert len(importance) == 30
    gains = [item["gain"] for item in importance]
    assert gains == sorted(gains, reverse=True) and sum(gains) == pytest.approx(1, abs=1e-4)
    assert importance[0]["feature"].startswith("worst")


def test_multiclass_with_string_labels(iris):
    result = train_model(iris, "target", params=PARAMS, threads=1)
    assert result.schema.classes == ["setosa", "versicolor", "virginica"]
    evaluation = result.evaluation
    assert evaluation["metrics"]["accuracy"] >= 0.85
    assert evaluation["metrics"]["roc_auc"] >= 0.9
    assert np.array(evaluation["confusion_matrix"]["matrix"]).shape == (3, 3)
    assert [c["label"] for c in evaluation["curves"]["roc"]] == result.schema.classes
    assert set(evaluation["learning_curve"]) == {"merror", "mlogloss"}
    assert evaluation["metrics"]["baseline_accuracy"] == pytest.approx(1 / 3, abs=0.01)


def test_early_stopping_watches_the_validation_part_not_the_test_part(cancer, cancer_run):
    result, _ = cancer_run
    rows = result.rows
    assert rows["validation"] > 0
    assert rows["train"] + rows["validation"] + rows["test"] == rows["labelled"] == len(cancer)
    assert rows["test"] == 114 and rows["validation"] == 46
    curve = result.evaluation["learning_curve"]["logloss"]
    stopped = len(curve["validation"])
    assert stopped == result.best_iteration + 1 + PARAMS["early_stopping_rounds"] < 400
    assert result.booster.num_boosted_rounds() == result.best_iteration + 1
    assert curve["validation"][result.best_iteration] == min(curve["validation"])
    # Rebuild the same splits: the curve was measured on the validation rows,
    # the reported metrics on test rows the booster never saw while fitting.
    x, _ = prepare_features(result.schema, cancer)
    y = encode_target(result.schema, cancer["target"])
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=42, stratify=y
    )
    _, x_val, _, y_val = train_test_split(
        x_train, y_train, test_size=0.1, random_state=42, stratify=y_train
    )
    assert not set(x_val.index) & set(x_test.index)
    val_loss = log_loss(y_val, result.booster.inplace_predict(x_val))
    assert val_loss == pytest.approx(curve["validation"][result.best_iteration], abs=1e-5)
    test_loss = log_loss(y_test, result.booster.inplace_predict(x_test))
    assert test_loss == pytest.approx(result.evaluation["metrics"]["log_loss"], abs=1e-5)
    assert abs(test_loss - val_loss) > 1e-3


def test_progress_reports_every_round_up_to_the_stop(cancer_run):
    result, calls = cancer_run
    stopped = len(result.evaluation["learning_curve"]["logloss"]["validation"])
    assert calls == [(i, 400) for i in range(1, stopped + 1)]


def test_training_is_deterministic_for_a_seed(cancer):
    # Two threads: the parallel histogram build must not change the result either.
    params = {"n_estimators": 25}
    first = train_model(cancer, "target", params=params, threads=2)
    again = train_model(cancer, "target", params=params, threads=2)
    assert again.evaluation == first.evaluation
    assert again.best_iteration == first.best_iteration
    x, _ = prepare_features(first.schema, cancer)
    np.testing.assert_array_equal(
        again.booster.inplace_predict(x), first.booster.inplace_predict(x)
    )
    other = train_model(cancer, "target", params=params, threads=1, seed=7)
    assert other.evaluation["metrics"] != first.evaluation["metrics"]


def test_parameters_reach_xgboost(cancer):
    params = {"n_estimators": 5, "max_depth": 1, "validation_fraction": 0.25}
    result = train_model(cancer, "target", params=params, test_size=0.3, threads=1)
    assert result.params["max_depth"] == 1 and result.params["learning_rate"] == 0.1
    assert result.booster.num_boosted_rounds() <= 5
    dump = result.booster.get_dump()
    assert all(tree.count("leaf=") == 2 for tree in dump)  # depth-1 stumps
    assert result.rows["test"] == 171
    assert result.rows["validation"] == round(0.25 * (569 - 171))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_size": 0.9}, "test_size must be between 0.05 and 0.5"),
        ({"params": {"eta": 0.1}}, "unknown parameter 'eta'"),
        ({"params": {"n_estimators": 2.5}}, "'n_estimators' must be an integer"),
        ({"params": {"subsample": 0}}, "'subsample' must be between 0.05 and 1"),
    ],
)
def test_bad_arguments_are_refused(cancer, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        train_model(cancer, "target", **kwargs)


def test_too_few_rows_for_a_stratified_split_is_explained():
    frame = pd.DataFrame({"x": range(8), "y": ["a", "b"] * 4})
    with pytest.raises(InvalidInput, match="cannot make a stratified validation split"):
        train_model(frame, "y")


def test_a_sampled_train_curve_leaves_the_model_alone(cancer, cancer_run, monkeypatch):
    full, _ = cancer_run
    monkeypatch.setattr(training, "TRAIN_CURVE_ROWS", 100)
    sampled = train_model(cancer, "target", params=PARAMS, threads=1)
    assert sampled.best_iteration == full.best_iteration
    x, _ = prepare_features(full.schema, cancer)
    np.testing.assert_array_equal(
        sampled.booster.inplace_predict(x), full.booster.inplace_predict(x)
    )
    curves = (
        sampled.evaluation["learning_curve"]["logloss"],
        full.evaluation["learning_curve"]["logloss"],
    )
    assert curves[0]["validation"] == curves[1]["validation"]
    assert len(curves[0]["train"]) == len(curves[1]["train"])
    assert curves[0]["train"] != curves[1]["train"]
