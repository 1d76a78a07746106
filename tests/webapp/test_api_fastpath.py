"""/api/predict's records path builds XGBoost's matrix without pandas; it must agree with the
pandas path (dsba.data.schema.prepare_features) on labels, probabilities, warnings and errors."""

from __future__ import annotations

import json

import numpy as np
import palmerpenguins
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.errors import InvalidInput
from dsba.model.feature_plan import feature_plan
from dsba.model.prediction import predict_frame, predict_records
from dsba.service import LocalService


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A penguins model (numeric + categorical) and one with a boolean feature."""
    root = tmp_path_factory.mktemp("fastpath")
    service = LocalService(Settings(registry_dir=root / "registry"))
    penguins = palmerpenguins.load_penguins()
    penguins.to_csv(root / "penguins.csv", index=False)
    service.train(
        str(root / "penguins.csv"), target="species", name="penguins", params={"n_estimators": 15}
    )
    rng = np.random.default_rng(3)
    flags = pd.DataFrame(
        {
            "member": rng.choice(["true", "false"], 300),
            "visits": rng.poisson(3, 300),
            "plan": rng.choice(["basic", "plus", "pro"], 300),
        }
    )
    flags["churn"] = np.where((flags["member"] == "false") & (flags["visits"] < 3), "yes", "no")
    flags.to_csv(root / "flags.csv", index=False)
    service.train(
        str(root / "flags.csv"), target="churn", name="flags", params={"n_estimators": 15}
    )
    return service.registry.load("penguins"), service.registry.load("flags"), penguins


def both_paths(model, records):
    """(records path, pandas path) results; an error is returned as its message."""
    results = []
    for run in (
        lambda: predict_records(model, records),
        lambda: predict_frame(model, pd.DataFrame.from_records(records)),
    ):
        try:
            results.append(run())
        except InvalidInput as error:
            results.append(error.message)
    return results


def assert_same(model, records, fast_path_expected=True):
    fast, slow = both_paths(model, records)
    assert (feature_plan(model).matrix(records) is not None) is fast_path_expected
    if isinstance(slow, str):
        assert fast == slow
        return
    assert fast.labels == slow.labels
    assert np.array_equal(fast.probabilities, slow.probabilities)
    assert fast.warnings == slow.warnings
    assert fast.records() == slow.records()


def test_penguins_agree_row_for_row(models):
    model, _, penguins = models
    records = json.loads(penguins.to_json(orient="records"))
    records[3]["island"] = "Atlantis"
    records[5]["tag"] = "x"
    del records[7]["sex"]
    records[9]["bill_depth_mm"] = None
    assert_same(model, records)


def test_booleans_and_unseen_categories_agree(models):
    _, model, _ = models
    records = [
        {"member": True, "visits": 1, "plan": "pro"},
        {"member": False, "visits": 5, "plan": "gold"},
        {"member": None, "visits": None, "plan": None},
    ]
    assert_same(model, records)


def test_true_false_words_take_the_records_path(models):
    _, model, _ = models
    # The words the model was trained on, as a CSV or a form sends them, in any case.
    records = [
        {"member": "true", "visits": 1, "plan": "pro"},
        {"member": " False ", "visits": 5, "plan": "basic"},
        {"member": "YES", "visits": 0, "plan": "plus"},
    ]
    assert_same(model, records)
    assert_same(model, records[1:2])
    assert_same(model, [{"member": "perhaps", "visits": 1, "plan": "pro"}], False)


@pytest.mark.parametrize(
    "change",
    [
        {"bill_length_mm": "long"},
        {"bill_length_mm": "41.5"},
        {"island": 3},
        {"year": True},
    ],
)
def test_other_values_take_the_pandas_path(models, change):
    model, _, penguins = models
    records = json.loads(penguins.head(3).to_json(orient="records"))
    records[1].update(change)
    assert_same(model, records, fast_path_expected=False)


def test_numbers_beyond_float32_are_a_clear_error(models):
    model, _, penguins = models
    records = json.loads(penguins.head(2).to_json(orient="records"))
    for value in (1e39, 10**40, 10**400):
        records[1]["body_mass_g"] = value
        with pytest.raises(InvalidInput, match="'body_mass_g': row 1"):
            predict_records(model, records)


@pytest.mark.parametrize("value", [1e39, -(10**40)])
def test_both_paths_refuse_numbers_beyond_float32_alike(models, value):
    model, flags_model, penguins = models
    records = json.loads(penguins.head(2).to_json(orient="records"))
    records[1]["body_mass_g"] = value
    fast, slow = both_paths(model, records)
    assert (
        fast
        == slow
        == ("column 'body_mass_g': row 1 has a number beyond the model's range (3.4e38)")
    )
    # A CSV to score goes down the pandas path: the same refusal there.
    frame = pd.DataFrame({"member": ["yes"], "visits": [value], "plan": ["pro"]})
    with pytest.raises(InvalidInput, match="'visits': row 0 has a number beyond"):
        predict_frame(flags_model, frame)


def test_nested_values_are_refused_even_in_ignored_columns(models):
    model, _, penguins = models
    records = json.loads(penguins.head(2).to_json(orient="records"))
    records[1]["tags"] = ["a", "b"]
    with pytest.raises(InvalidInput, match="nested values"):
        predict_records(model, records)
