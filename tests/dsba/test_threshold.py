"""The metric the user means becomes a decision threshold, applied by every prediction path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import Dataset, read_bytes
from dsba.data.schema import prepare_features
from dsba.errors import InvalidInput
from dsba.model.calibration import apply_map, fit_map, reliability
from dsba.model.pipeline import train_and_register
from dsba.model.prediction import predict_frame, predict_records
from dsba.model.threshold import choose_threshold
from dsba.model.threshold_version import save_threshold_version
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService
from tests.imbalanced import imbalanced_cancer


def test_optimizing_balanced_accuracy_raises_it_by_a_wide_margin():
    """Five seeded tables, 30% test parts: the test part never chose the threshold."""
    default, optimized = [], []
    for seed in range(5):
        frame = imbalanced_cancer(seed)
        plain = train_model(frame, "diagnosis", seed=seed, test_size=0.3, threads=1)
        tuned = train_model(
            frame,
            "diagnosis",
            seed=seed,
            test_size=0.3,
            threads=1,
            optimize="balanced_accuracy",
        )
        default.append(plain.evaluation["metrics"]["balanced_accuracy"])
        optimized.append(tuned.evaluation["metrics"]["balanced_accuracy"])
        assert plain.decision.threshold == 0.5 and plain.decision.calibration is None
        assert tuned.decision.threshold < 0.5
    print(
        f"\nbalanced accuracy on breast cancer, 5% malignant, 5 seeds: default "
        f"{np.mean(default):.3f} {np.round(default, 3).tolist()}, optimize=balanced_accuracy "
        f"{np.mean(optimized):.3f} {np.round(optimized, 3).tolist()}"
    )
    assert np.mean(optimized) >= np.mean(default) + 0.08


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A registry holding one balanced_accuracy model of the imbalanced table."""
    root = tmp_path_factory.mktemp("registry")
    registry = ModelRegistry(root)
    frame = imbalanced_cancer(2)
    dataset = Dataset(
        frame=frame, source="cancer.csv", format="csv", fingerprint="0" * 64, n_bytes=1
    )
    settings = Settings.from_env({"DSBA_REGISTRY_DIR": str(root), "DSBA_TRAIN_THREADS": "1"})
    meta = train_and_register(
        registry,
        dataset,
        name="cancer",
        target="diagnosis",
        settings=settings,
        test_size=0.3,
        seed=2,
        optimize="balanced_accuracy",
    )
    return registry, frame, meta


def test_the_threshold_is_recorded_and_every_path_applies_it(tuned):
    registry, frame, meta = tuned
    assert meta["optimize"] == "balanced_accuracy" and 0 < meta["threshold"] < 0.5
    assert meta["decision"]["source"] == "out_of_fold"
    table = meta["evaluation"]["threshold_table"]
    assert len(table["threshold"]) == 100 and set(table) == {"threshold", "tp", "fp", "fn", "tn"}
    model = registry.load("cancer")
    features = frame.drop(columns="diagnosis")
    by_frame = predict_frame(model, features)
    by_records = predict_records(model, features.to_dict("records"))
    p = by_frame.probabilities[:, 1]
    expected = np.where(p >= meta["threshold"], "malignant", "benign")
    assert by_frame.labels == expected.tolist() == by_records.labels
    np.testing.assert_allclose(by_records.probabilities, by_frame.probabilities, atol=1e-6)
    # The threshold matters on this table: some rows get a label the most probable class lacks.
    assert (expected != np.where(p >= 0.5, "malignant", "benign")).any()


def test_a_new_threshold_is_a_new_version_with_the_same_booster(tuned):
    registry, frame, meta = tuned
    saved = save_threshold_version(registry, f"cancer:{meta['version']}", 0.9)
    assert saved["version"] == meta["version"] + 1 and saved["threshold"] == 0.9
    assert saved["threshold_from"] == {"version": meta["version"], "threshold": meta["threshold"]}
    assert saved["artifacts"]["model.ubj"] == meta["artifacts"]["model.ubj"]
    assert saved["calibration"] == meta["calibration"]
    old = predict_frame(registry.load(f"cancer:{meta['version']}"), frame)
    new = predict_frame(registry.load(f"cancer:{saved['version']}"), frame)
    np.testing.assert_array_equal(old.probabilities, new.probabilities)
    expected = np.where(new.probabilities[:, 1] >= 0.9, "malignant", "benign").tolist()
    assert new.labels == expected != old.labels
    # The test metrics follow the threshold (0.9 is a row of the stored table).
    row = saved["evaluation"]["threshold_table"]["threshold"].index(0.9)
    tp = saved["evaluation"]["threshold_table"]["tp"][row]
    assert saved["evaluation"]["confusion_matrix"]["matrix"][1][1] == tp
    assert saved["metrics"]["balanced_accuracy"] != meta["metrics"]["balanced_accuracy"]
    # Monitoring's reference now counts the labels of the test part at 0.9.
    reference = registry.load(f"cancer:{saved['version']}").artifacts["reference.json"]
    shares = reference["prediction"]["class_shares"]
    table = saved["evaluation"]["threshold_table"]
    rows = sum(table[k][row] for k in ("tp", "fp", "fn", "tn"))
    assert shares[1] == pytest.approx((table["tp"][row] + table["fp"][row]) / rows)
    # The old version is untouched.
    assert registry.get_metadata(f"cancer:{meta['version']}")["threshold"] == meta["threshold"]


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, "x", True, None])
def test_a_threshold_outside_zero_one_is_refused(tuned, value):
    registry, _, _ = tuned
    with pytest.raises(InvalidInput, match="threshold"):
        save_threshold_version(registry, "cancer:1", value)


def test_only_a_binary_model_has_a_threshold(tmp_path, penguins_frame):
    registry = ModelRegistry(tmp_path)
    result = train_model(penguins_frame, "species", threads=1, optimize="f1")
    registry.save_version(
        "p", result.booster, result.schema.to_dict(), {"classes": ["a", "b", "c"]}
    )
    assert result.decision.optimize == "f1" and result.decision.threshold is None
    with pytest.raises(InvalidInput, match="binary"):
        save_threshold_version(registry, "p", 0.3)


def test_an_unknown_metric_is_refused(penguins_frame):
    with pytest.raises(InvalidInput, match="optimize must be one of"):
        train_model(penguins_frame, "species", optimize="precision")


def test_threshold_free_metrics_keep_one_half():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.7, 0.9])
    assert choose_threshold(y, p, "log_loss") == choose_threshold(y, p, "roc_auc") == 0.5
    # Only thresholds in (0.6, 0.7] separate the classes: the middle of that run is chosen.
    assert 0.6 < choose_threshold(y, p, "f1") <= 0.7


def test_calibration_maps_are_plain_numbers_that_fix_a_skew():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.05, 0.95, 4000)
    y = (rng.uniform(size=truth.size) < truth).astype(int)
    skewed = truth**3  # overconfident towards 0
    for method in ("platt", "isotonic"):
        fitted = json.loads(json.dumps(fit_map(method, y, skewed)))
        before = reliability(y, skewed)["ece"]
        after = reliability(y, apply_map(fitted, skewed))["ece"]
        assert after < before / 3, (method, before, after)


def test_the_cli_trains_for_a_metric_predicts_with_its_threshold_and_sets_another(tmp_path, cli):
    data = tmp_path / "cancer.csv"
    imbalanced_cancer(2).to_csv(data, index=False)
    registry = tmp_path / "registry"
    args = ("--target", "diagnosis", "--name", "cancer", "--test-size", "0.3", "--seed", "2")
    trained = cli(registry, "train", str(data), *args, "--optimize", "balanced_accuracy")
    assert trained.exit_code == 0, trained.output
    assert "optimized balanced_accuracy: threshold" in trained.stdout
    threshold = ModelRegistry(registry).get_metadata("cancer")["threshold"]
    scored = cli(registry, "predict", "cancer", str(data), "-o", str(tmp_path / "out.csv"))
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv(tmp_path / "out.csv")
    expected = np.where(out["probability_malignant"] >= threshold, "malignant", "benign")
    # Probabilities are written rounded to 6 places: compare away from the threshold's edge.
    clear = (out["probability_malignant"] - threshold).abs() > 1e-5
    assert (out["prediction"][clear] == expected[clear]).all()
    assert (out["prediction"] == "malignant").sum() > (out["probability_malignant"] >= 0.5).sum()
    changed = cli(registry, "models", "threshold", "cancer:1", "0.5")
    assert changed.exit_code == 0, changed.output
    assert "saved cancer:2 with threshold 0.5 (from version 1)" in changed.stdout
    refused = cli(registry, "models", "threshold", "cancer:1", "1.2")
    assert refused.exit_code != 0 and "strictly between 0 and 1" in refused.stderr


def test_a_calibration_map_that_lowers_held_out_log_loss_is_served(tmp_path):
    """Seed 1 of the table: Platt scaling wins the cross-validated log loss and is applied."""
    frame = imbalanced_cancer(1)
    result = train_model(
        frame, "diagnosis", seed=1, test_size=0.3, threads=1, optimize="balanced_accuracy"
    )
    calibration = result.decision.calibration
    losses = result.decision.details["log_loss"]
    assert calibration is not None and losses[calibration["method"]] < losses["uncalibrated"]
    registry = ModelRegistry(tmp_path)
    registry.save_version(
        "cancer",
        result.booster,
        result.schema.to_dict(),
        {"classes": result.schema.classes, **result.decision.metadata()},
    )
    model = registry.load("cancer")
    features = frame.drop(columns="diagnosis")
    served = predict_records(model, features.to_dict("records")).probabilities[:, 1]
    x, _ = prepare_features(result.schema, features)
    raw = result.booster.inplace_predict(x)
    np.testing.assert_allclose(served, apply_map(calibration, raw), atol=1e-6)
    assert np.abs(served - raw).max() > 0.01
    # Monitoring's reference counts the labels served (every row here: train and test parts).
    share = result.reference["prediction"]["class_shares"][1]
    assert share == pytest.approx(np.mean(served >= result.decision.threshold))
    assert share != pytest.approx(np.mean(served >= 0.5))
    assert "uncalibrated" in result.evaluation["calibration"]


def test_the_dask_path_says_plainly_that_it_keeps_the_default_rule(tmp_path):
    pytest.importorskip("distributed")
    settings = Settings(registry_dir=tmp_path, dask_scheduler="tcp://127.0.0.1:9", dask_min_bytes=0)
    frame = imbalanced_cancer(0)
    raw = frame.to_csv(index=False).encode()
    profile = DatasetStore(tmp_path).save(read_bytes(raw, source="c.csv", filename="c.csv"))
    service = LocalService(settings)
    service.check_training(profile["id"])
    service.check_training(profile["id"], "accuracy")
    with pytest.raises(InvalidInput, match="Dask cluster, which keeps the default decision rule"):
        service.check_training(profile["id"], "balanced_accuracy")
    with pytest.raises(InvalidInput, match="train without optimize"):
        service.train_stored(profile["id"], name="c", target="diagnosis", optimize="f1")
