"""The linear candidate (booster gblinear): training, encoding, every prediction path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_diabetes

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import Dataset
from dsba.data.schema import FeatureSchema, infer_schema, prepare_features
from dsba.errors import InvalidInput
from dsba.model.feature_plan import FeaturePlan, feature_plan
from dsba.model.linear import fit_linear_encoding, linear_inputs, linear_sources
from dsba.model.params import validate_params
from dsba.model.pipeline import train_and_register
from dsba.model.prediction import predict_frame, predict_records
from dsba.model.threshold_version import save_threshold_version
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService
from tests.imbalanced import imbalanced_cancer

LINEAR = {"booster": "gblinear"}


def _json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a JSON client sends them: null for missing values."""
    return json.loads(frame.to_json(orient="records"))


def test_the_linear_candidate_beats_the_tree_defaults_on_a_linear_table():
    """Diabetes (442 rows, mostly linear): ridge-like models reach R² ~0.4, trees ~0.25."""
    x, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    frame = x.assign(progression=y)
    linear, trees, coverage = [], [], []
    for seed in range(3):
        result = train_model(frame, "progression", seed=seed, threads=1, params=LINEAR)
        plain = train_model(frame, "progression", seed=seed, threads=1)
        assert result.params["booster"] == "gblinear" and plain.params["booster"] == "gbtree"
        assert result.schema.linear is not None and plain.schema.linear is None
        linear.append(result.evaluation["metrics"]["r2"])
        trees.append(plain.evaluation["metrics"]["r2"])
        coverage.append(result.evaluation["metrics"]["interval_coverage"])
    print(f"\ndiabetes test R²: gblinear {np.round(linear, 3)}, gbtree {np.round(trees, 3)}")
    # Measured: gblinear 0.355/0.383/0.444, gbtree 0.293/0.117/0.272.
    assert np.mean(linear) >= np.mean(trees) + 0.06
    # 90% intervals on ~89 test rows each.
    assert np.mean(coverage) >= 0.82


def test_the_encoding_standardises_numbers_and_one_hots_categories(penguins_frame):
    schema = infer_schema(penguins_frame, "species")
    x, _ = prepare_features(schema, penguins_frame)
    encoding = fit_linear_encoding(schema, x)
    json.dumps(encoding)  # plain JSON numbers
    sparse_inputs = linear_inputs(encoding, x)
    assert sparse_inputs.dtype == np.float32 and sparse_inputs.format == "csr"
    inputs = sparse_inputs.toarray()
    by_column = {item["column"]: item for item in encoding["inputs"]}
    assert by_column["island"]["categories"] == 3 and by_column["sex"]["categories"] == 2
    # Numeric columns: mean 0 and standard deviation 1 on the rows fitted, missing -> 0.
    j = linear_sources(encoding).index("bill_length_mm")
    column = inputs[:, j]
    known = penguins_frame["bill_length_mm"].notna().to_numpy()
    assert abs(column[known].mean()) < 1e-5 and abs(column[known].std() - 1) < 1e-4
    assert (column[~known] == 0).all()
    # One-hot: one 1 per known island, none for a missing one.
    start = linear_sources(encoding).index("island")
    island = inputs[:, start : start + 3]
    assert (island.sum(axis=1) == penguins_frame["island"].notna().to_numpy()).all()
    # The FeaturePlan's float codes give the same matrix as the pandas categories.
    plan = FeaturePlan(schema)
    matrix = plan.matrix(_json_records(penguins_frame.drop(columns="species")))[0]
    np.testing.assert_array_equal(linear_inputs(encoding, matrix).toarray(), inputs)


@pytest.fixture(scope="module")
def linear_registry(tmp_path_factory, penguins_frame):
    """A registry with a gblinear species classifier and a gblinear body-mass regressor."""
    root = tmp_path_factory.mktemp("registry")
    registry = ModelRegistry(root)
    settings = Settings.from_env({"DSBA_REGISTRY_DIR": str(root), "DSBA_TRAIN_THREADS": "1"})
    dataset = Dataset(penguins_frame, "0" * 64, "penguins.csv", "csv", 1)
    species = train_and_register(
        registry, dataset, name="species", target="species", settings=settings, params=LINEAR
    )
    mass_data = Dataset(penguins_frame.drop(columns="species"), "1" * 64, "p.csv", "csv", 1)
    mass = train_and_register(
        registry, mass_data, name="mass", target="body_mass_g", settings=settings, params=LINEAR
    )
    return registry, species, mass


def test_a_linear_classifier_is_stored_with_its_encoding(linear_registry):
    registry, meta, _ = linear_registry
    assert meta["params"]["booster"] == "gblinear"
    assert meta["params"]["learning_rate"] == 0.5 and meta["params"]["reg_lambda"] == 0.01
    assert meta["metrics"]["accuracy"] >= 0.95
    model = registry.load("species")
    assert model.schema["linear"]["booster"] == "gblinear"
    assert json.loads(model.booster.save_config())["learner"]["gradient_booster"]["name"] == (
        "gblinear"
    )
    # Importance is per source feature (one-hot columns folded back), as shares.
    importance = meta["evaluation"]["feature_importance"]
    assert {item["feature"] for item in importance} == set(meta["features"])
    assert sum(item["gain"] for item in importance) == pytest.approx(1, abs=1e-4)
    assert importance[0]["gain"] > importance[-1]["gain"]
    assert meta["evaluation"]["learning_curve"]["mlogloss"]["validation"]


def test_every_prediction_path_agrees_for_a_linear_classifier(
    linear_registry, penguins_frame, tmp_path, cli
):
    registry, meta, _ = linear_registry
    model = registry.load("species")
    features = penguins_frame.drop(columns="species")
    records = _json_records(features)
    assert feature_plan(model).matrix(records) is not None  # the fast path takes them
    fast = predict_records(model, records)
    by_frame = predict_frame(model, features)
    single = predict_records(model, records[:1])
    np.testing.assert_allclose(fast.probabilities, by_frame.probabilities, atol=1e-6)
    assert fast.labels == by_frame.labels and single.labels == fast.labels[:1]
    assert (np.array(fast.labels) == penguins_frame["species"].to_numpy()).mean() >= 0.95
    # CSV batch through the command line.
    path, out = tmp_path / "in.csv", tmp_path / "out.csv"
    features.to_csv(path, index=False)
    result = cli(registry.root, "predict", "species", str(path), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(out)
    assert scored["prediction"].tolist() == fast.labels
    columns = [f"probability_{c}" for c in meta["classes"]]
    np.testing.assert_allclose(scored[columns].to_numpy(), fast.probabilities, atol=2e-6)


def test_contributions_are_per_source_feature_and_sum_to_the_margin(
    linear_registry, penguins_frame
):
    registry, meta, _ = linear_registry
    model = registry.load("species")
    features = penguins_frame.drop(columns="species").iloc[:40]
    explained = predict_frame(model, features, contributions=True)
    assert all(set(row) == set(meta["features"]) for row in explained.contributions)
    x, _ = prepare_features(FeatureSchema.from_dict(model.schema), features)
    inputs = linear_inputs(model.schema["linear"], x)
    margin = model.booster.predict(xgb.DMatrix(inputs), output_margin=True)
    # With every input missing, a linear model's margin is its bias alone.
    bias = model.booster.predict(xgb.DMatrix(np.zeros((1, inputs.shape[1]))), output_margin=True)
    classes = meta["classes"]
    for i, row in enumerate(explained.contributions):
        k = classes.index(explained.labels[i])
        assert sum(row.values()) + bias[0, k] == pytest.approx(margin[i, k], abs=1e-4)


def test_an_unseen_category_counts_as_missing(linear_registry, penguins_frame):
    registry, _, _ = linear_registry
    model = registry.load("species")
    record = _json_records(penguins_frame.drop(columns="species").iloc[[0]])[0]
    unseen = predict_records(model, [record | {"island": "Atlantis"}])
    missing = predict_records(model, [record | {"island": None}])
    assert any("Atlantis" in w for w in unseen.warnings)
    np.testing.assert_array_equal(unseen.probabilities, missing.probabilities)
    explained = predict_frame(
        model, pd.DataFrame([record | {"island": "Atlantis"}]), contributions=True
    )
    assert explained.contributions[0]["island"] == 0


def test_a_linear_regressor_predicts_values_inside_intervals(linear_registry, penguins_frame):
    registry, _, meta = linear_registry
    assert meta["params"]["booster"] == "gblinear" and meta["metrics"]["r2"] >= 0.7
    model = registry.load("mass")
    features = penguins_frame.drop(columns=["species", "body_mass_g"])
    fast = predict_records(model, _json_records(features))
    by_frame = predict_frame(model, features)
    np.testing.assert_allclose(fast.labels, by_frame.labels, rtol=1e-6)
    np.testing.assert_allclose(fast.intervals, by_frame.intervals, rtol=1e-6)
    values = np.array(fast.labels)
    assert ((fast.intervals[:, 0] <= values) & (values <= fast.intervals[:, 1])).all()
    truth = penguins_frame["body_mass_g"].to_numpy()
    known = ~np.isnan(truth)
    inside = (fast.intervals[known, 0] <= truth[known]) & (truth[known] <= fast.intervals[known, 1])
    assert inside.mean() >= 0.8


def test_a_balanced_linear_classifier_stores_and_applies_a_threshold(tmp_path, cli):
    path = tmp_path / "cancer.csv"
    frame = imbalanced_cancer(1)
    frame.to_csv(path, index=False)
    registry = tmp_path / "registry"
    result = cli(
        registry,
        "--json",
        "train",
        str(path),
        "--target",
        "diagnosis",
        "--name",
        "cancer",
        "--param",
        "booster=gblinear",
        "--optimize",
        "balanced_accuracy",
    )
    assert result.exit_code == 0, result.stderr
    meta = ModelRegistry(registry).get_metadata("cancer")
    assert meta["params"]["booster"] == "gblinear"
    assert meta["decision"]["source"] == "out_of_fold" and 0 < meta["threshold"] < 1
    model = ModelRegistry(registry).load("cancer")
    records = _json_records(frame.drop(columns="diagnosis"))
    scored = predict_records(model, records)
    expected = np.where(scored.probabilities[:, 1] >= meta["threshold"], "malignant", "benign")
    assert scored.labels == expected.tolist()
    # "Use this threshold" saves the same linear booster and encoding as a new version.
    saved = save_threshold_version(ModelRegistry(registry), "cancer", 0.9)
    again = predict_records(ModelRegistry(registry).load(f"cancer:{saved['version']}"), records)
    np.testing.assert_array_equal(again.probabilities, scored.probabilities)
    assert (
        again.labels == np.where(again.probabilities[:, 1] >= 0.9, "malignant", "benign").tolist()
    )


def test_a_schema_without_linear_loads_as_a_tree_model(tmp_path, penguins_frame):
    """Versions saved before the linear candidate have no "linear" key in schema.json."""
    result = train_model(penguins_frame, "species", threads=1, params={"n_estimators": 5})
    old = result.schema.to_dict()
    del old["linear"]
    registry = ModelRegistry(tmp_path)
    registry.save_version("old", result.booster, old, {"classes": result.schema.classes})
    model = registry.load("old")
    assert FeatureSchema.from_dict(model.schema).linear is None
    scored = predict_records(model, _json_records(penguins_frame.drop(columns="species")))
    assert len(scored.labels) == len(penguins_frame)


def test_the_booster_parameter_is_a_checked_choice():
    assert validate_params({})["booster"] == "gbtree"
    assert validate_params({"booster": "gblinear", "reg_lambda": 2})["reg_lambda"] == 2
    with pytest.raises(InvalidInput, match="'booster' must be one of gbtree, gblinear"):
        validate_params({"booster": "dart"})
    with pytest.raises(InvalidInput, match="gblinear.*reg:squarederror"):
        validate_params({"booster": "gblinear", "objective": "reg:absoluteerror"}, regression=True)


def test_dask_refuses_the_linear_booster(tmp_path, penguins_frame):
    pytest.importorskip("distributed")
    from dsba.model.dask_training import train_model_dask

    with pytest.raises(InvalidInput, match="Dask cluster, which trains tree boosters"):
        train_model_dask(None, tmp_path / "none.parquet", "species", params=LINEAR)
    registry_dir = tmp_path / "registry"
    info = DatasetStore(registry_dir).save(Dataset(penguins_frame, "ab" * 32, "p.csv", "csv", 1))
    # Nothing listens there: the refusal comes before any contact.
    settings = Settings(
        registry_dir=registry_dir, dask_scheduler="tcp://127.0.0.1:9", dask_min_bytes=0
    )
    service = LocalService(settings)
    with pytest.raises(InvalidInput, match="tree boosters"):
        service.check_training(info["id"], params=LINEAR)
    with pytest.raises(InvalidInput, match="tree boosters"):
        service.train_stored(info["id"], name="p", target="species", params=LINEAR)
    service.check_training(info["id"], params={"booster": "gbtree"})


def test_far_out_and_infinite_inputs_stay_finite(linear_registry, penguins_frame):
    registry, _, _ = linear_registry
    model = registry.load("species")
    frame = penguins_frame.drop(columns="species").iloc[:3].copy()
    # year varies by less than 1 around its mean: 3.3e38 standardised is beyond float32.
    frame["year"] = [3.3e38, -np.inf, np.nan]
    scored = predict_frame(model, frame)
    assert np.isfinite(scored.probabilities).all()


def test_a_linear_regressions_quantile_booster_is_a_tree_with_tree_settings(
    penguins_frame, monkeypatch
):
    # Spy on (not replace) the fits: the interval's quantile booster must not inherit the
    # linear model's step of 0.5 and its tiny penalty, which are no tree's settings.
    from dsba.model import regression

    fits = []
    real = regression.fit_booster

    def recording(native, *args, **kwargs):
        fits.append(dict(native))
        return real(native, *args, **kwargs)

    monkeypatch.setattr(regression, "fit_booster", recording)
    frame = penguins_frame.drop(columns=["species"])
    result = train_model(frame, "body_mass_g", params={"booster": "gblinear"}, threads=1)
    assert result.params["booster"] == "gblinear"
    main, quantile = fits
    assert main["booster"] == "gblinear" and main["eta"] == 0.5
    assert quantile.get("booster", "gbtree") == "gbtree"
    assert quantile["objective"] == "reg:quantileerror"
    assert quantile["eta"] == validate_params({}, regression=True)["learning_rate"]


def test_a_thousand_category_column_costs_one_stored_value_a_row():
    # Dense one-hot inputs of 20,000 rows and 1,000 categories would hold 20 million floats.
    rng = np.random.default_rng(0)
    n = 20_000
    codes = rng.integers(0, 1000, n)
    frame = pd.DataFrame(
        {
            "shop": [f"s{c:04d}" for c in codes],
            "price": rng.normal(size=n),
            "y": np.where(codes % 2 == 0, "even", "odd"),
        }
    )
    schema = infer_schema(frame, "y", max_categories=1000)
    x, _ = prepare_features(schema, frame)
    inputs = linear_inputs(fit_linear_encoding(schema, x), x)
    assert inputs.shape == (n, 1001) and inputs.nnz == 2 * n
    result = train_model(frame, "y", params={"booster": "gblinear"}, max_categories=1000, threads=1)
    # The shop decides the class: a one-hot linear model learns it from these columns.
    assert result.evaluation["metrics"]["accuracy"] >= 0.9
