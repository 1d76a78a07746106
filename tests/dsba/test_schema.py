"""Schema inference at training time and its application at prediction time."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dsba.data.ingestion import read_path
from dsba.data.schema import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    FeatureSchema,
    _as_numeric,
    check_target,
    infer_schema,
    prepare_features,
)
from dsba.errors import InvalidInput
from dsba.model.prediction import predict_frame
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry

N = 40


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """Return one column of every kind, plus columns that must be dropped."""
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "amount": rng.normal(size=N),
            "count": rng.integers(0, 5, size=N),
            "flag": rng.random(N) > 0.5,
            "answer": rng.choice(["yes", "no"], size=N),
            "color": rng.choice(["red", "green", "blue"], size=N),
            "when": [
                f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:30:00" for i in range(N)
            ],
            "code": [f"r{i:03d}" for i in range(N)],
            "row": np.arange(N),
            "customer_id": rng.choice(10_000, size=N, replace=False),
            "const": 7,
            "blank": np.nan,
            "target": rng.choice(["x", "y"], size=N),
        }
    )


def test_infer_schema_finds_each_kind(mixed):
    schema = infer_schema(mixed, "target")
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {
        "amount": NUMERIC,
        "count": NUMERIC,
        "flag": BOOLEAN,
        "answer": BOOLEAN,
        "color": CATEGORICAL,
        "when": DATETIME,
    }
    color = next(f for f in schema.features if f.name == "color")
    assert color.categories == ["blue", "green", "red"]
    assert schema.classes == ["x", "y"]


def test_infer_schema_drops_id_like_constant_and_empty_columns_with_reasons(mixed):
    reasons = {d["column"]: d["reason"] for d in infer_schema(mixed, "target").dropped}
    assert set(reasons) == {"code", "row", "customer_id", "const", "blank"}
    assert reasons["code"].startswith("ID-like")
    assert reasons["row"].startswith("ID-like") and reasons["customer_id"].startswith("ID-like")
    assert reasons["const"].startswith("constant")
    assert reasons["blank"].startswith("empty")


def test_unique_floats_and_few_rows_are_not_id_like():
    frame = pd.DataFrame({"ratio": np.linspace(0, 1, N), "target": ["a", "b"] * (N // 2)})
    assert [f.name for f in infer_schema(frame, "target").features] == ["ratio"]
    small = pd.DataFrame({"code": list("abcdef"), "target": list("xyxyxy")})
    assert [f.kind for f in infer_schema(small, "target").features] == [CATEGORICAL]


def test_datetime_becomes_numeric_parts(mixed):
    schema = infer_schema(mixed, "target")
    parts = [c for c in schema.model_columns if c.startswith("when__")]
    assert parts == ["when__year", "when__month", "when__day", "when__dayofweek", "when__hour"]
    assert len(schema.model_columns) == len(schema.model_types)
    record = pd.DataFrame([{**mixed.iloc[0].to_dict(), "when": "2024-02-29T17:05:00"}])
    x, _ = prepare_features(schema, record)
    assert x.loc[0, parts].tolist() == [2024.0, 2.0, 29.0, 3.0, 17.0]
    assert "when" not in x.columns


def test_schema_round_trips_through_a_dict(mixed):
    schema = infer_schema(mixed, "target")
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_nested_values_are_refused():
    frame = pd.DataFrame({"meta": [{"a": 1}, {"a": 2}] * 10, "target": ["x", "y"] * 10})
    with pytest.raises(InvalidInput, match="'meta' holds nested values"):
        infer_schema(frame, "target")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.linspace(0.1, 9.7, 30), "looks continuous"),
        (["a"] * 30, "single class ('a')"),
        ([np.nan] * 30, "has no values"),
        (list(range(60)) * 2, "has 60 distinct values"),
        (["a", "b"] * 14 + ["c"], "classes ['c'] have a single row"),
    ],
)
def test_unusable_targets_are_explained(values, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        check_target(pd.Series(values, name="y"))


def test_target_must_exist():
    with pytest.raises(InvalidInput, match="target column 'y' not found; columns are: a"):
        infer_schema(pd.DataFrame({"a": [1, 2]}), "y")


def _labels_of(tmp_path, frame: pd.DataFrame) -> tuple[list, list]:
    """Train on frame, store and reload the model; return its classes and the predictions."""
    result = train_model(frame, "y", params={"n_estimators": 20})
    registry = ModelRegistry(tmp_path / "registry")
    version = registry.save_version("m", result.booster, result.schema.to_dict(), {})
    loaded = ModelRegistry(tmp_path / "registry").load(f"m:{version}")
    predicted = predict_frame(loaded, frame.drop(columns="y"))
    return FeatureSchema.from_dict(loaded.schema).classes, predicted.labels


def _target_frame(labels: list) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    labels = np.array(labels * 20, dtype=object)
    signal = np.array([hash(str(v)) % 7 for v in labels], dtype=float)
    return pd.DataFrame({"x": signal + rng.normal(scale=0.1, size=len(labels)), "y": labels})


@pytest.mark.parametrize(
    ("labels", "kind"),
    [
        ([3, 7, 11], int),
        (["cat", "dog"], str),
        ([True, False], bool),
    ],
)
def test_predictions_give_back_the_original_labels_and_types(tmp_path, labels, kind):
    frame = _target_frame(labels)
    frame["y"] = frame["y"].astype(type(labels[0]))
    classes, predicted = _labels_of(tmp_path, frame)
    assert classes == sorted(labels)
    assert {type(label) for label in predicted} == {kind}
    assert set(predicted) == set(labels)


def test_int_target_with_missing_labels_from_csv_stays_int(tmp_path):
    path = tmp_path / "data.csv"
    frame = _target_frame([1, 2, 3])
    frame.loc[::10, "y"] = None
    frame.to_csv(path, index=False)
    data = read_path(path).frame
    assert data["y"].dtype == np.float64  # how pandas reads ints next to blanks
    classes, predicted = _labels_of(tmp_path, data)
    assert classes == [1, 2, 3]
    assert {type(label) for label in predicted} == {int}


@pytest.fixture(scope="module")
def schema(mixed) -> FeatureSchema:
    return infer_schema(mixed, "target")


def _record(mixed: pd.DataFrame, **changes) -> pd.DataFrame:
    rows = mixed.drop(columns="target").head(3).copy()
    for column, value in changes.items():
        rows[column] = rows[column].astype(object)
        rows.loc[1, column] = value
    return rows.reset_index(drop=True)


def test_missing_feature_is_an_error_naming_it(schema, mixed):
    with pytest.raises(InvalidInput, match="missing feature columns: amount, color") as caught:
        prepare_features(schema, mixed.drop(columns=["amount", "color"]))
    assert caught.value.errors == {"missing_columns": ["amount", "color"]}
    x, _ = prepare_features(schema, mixed.drop(columns=["amount"]), strict=False)
    assert x["amount"].isna().all()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("amount", "lots", "column 'amount' must be numeric; row 1 has 'lots'"),
        ("flag", "maybe", "column 'flag' must be true/false; row 1 has 'maybe'"),
        ("when", "soon", "column 'when' must be a date/time; row 1 has 'soon'"),
    ],
)
def test_wrong_type_is_an_error_naming_column_and_row(schema, mixed, column, value, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        prepare_features(schema, _record(mixed, **{column: value}))
    assert caught.value.errors == {"column": column, "rows": [1]}


def test_numbers_as_text_and_boolean_words_are_accepted(schema, mixed):
    plain, _ = prepare_features(schema, _record(mixed))
    typed, warnings = prepare_features(
        schema, _record(mixed, amount=str(mixed.loc[1, "amount"]), flag="YES", answer=" No ")
    )
    assert warnings == []
    assert typed.loc[1, "amount"] == pytest.approx(plain.loc[1, "amount"])
    assert (typed.loc[1, "flag"], typed.loc[1, "answer"]) == (1.0, 0.0)


def test_extra_columns_and_unseen_categories_are_warnings(schema, mixed):
    frame = _record(mixed, color="purple")
    frame["note"] = "hello"
    x, warnings = prepare_features(schema, frame)
    extra, unseen = warnings
    assert extra == "ignored columns not used by the model: note"
    assert unseen == "column 'color': unseen categories ['purple'] treated as missing (rows [1])"
    assert pd.isna(x.loc[1, "color"]) and x.loc[0, "color"] == mixed.loc[0, "color"]
    assert list(x["color"].cat.categories) == ["blue", "green", "red"]
    assert "note" not in x.columns


def test_dropped_and_target_columns_are_not_extra(schema, mixed):
    _, warnings = prepare_features(schema, mixed)
    assert warnings == []


@settings(max_examples=300, deadline=None)
@example([-math.nan], "float64")
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([1e39, -3.5e38, 3.4e38, 16_777_217.0, 0.1]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["float64", "Float64", "object"]),
)
def test_a_numeric_column_reads_as_the_same_numbers_given_as_text(values, dtype):
    """A numeric column skips the coercion a text column needs: both must read the same."""

    def read(series):
        try:
            numbers = _as_numeric("x", series).to_numpy()
            # Any NaN is a missing value: -nan and nan alike (a float64 -nan keeps its sign).
            return np.where(np.isnan(numbers), np.float32("nan"), numbers).tobytes()
        except InvalidInput as error:
            return error.to_dict()

    numbers = pd.Series(values, dtype=dtype)
    as_text = pd.Series([None if pd.isna(v) else repr(float(v)) for v in numbers], dtype=object)
    assert read(numbers) == read(as_text)
