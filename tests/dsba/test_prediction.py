"""Prediction with a stored model: the category encoding of training, labels, warnings, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.errors import InvalidInput, TooLarge
from dsba.model.prediction import LABEL_COLUMN, records_to_frame
from dsba.service import LocalService

COLORS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def colors(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalService, Path]:
    """Train 'colors', where the category alone decides the label (b and d are 'yes')."""
    root = tmp_path_factory.mktemp("colors")
    rng = np.random.default_rng(3)
    n = 800
    color = rng.choice(COLORS, size=n)
    label = np.where(np.isin(color, ["b", "d"]), "yes", "no")
    flipped = rng.random(n) < 0.03
    frame = pd.DataFrame(
        {
            "color": color,
            "size": rng.normal(size=n).round(3),
            "label": np.where(flipped, np.where(label == "yes", "no", "yes"), label),
        }
    )
    path = root / "colors.csv"
    frame.to_csv(path, index=False)
    service = LocalService(Settings(registry_dir=root / "registry"))
    meta = service.train(str(path), target="label", name="colors", params={"n_estimators": 40})
    assert meta["metrics"]["accuracy"] >= 0.9
    return service, root / "registry"


def _proba(service: LocalService, records: list[dict]) -> np.ndarray:
    return service.predict_records("colors", records).probabilities


def test_category_is_stored_with_the_model(colors):
    _, registry = colors
    schema = json.loads((registry / "models" / "colors" / "1" / "schema.json").read_text())
    [color] = [f for f in schema["features"] if f["name"] == "color"]
    assert (color["kind"], color["categories"]) == ("categorical", COLORS)


def test_records_differing_only_in_category_get_different_predictions(colors):
    service, _ = colors
    records = [{"color": c, "size": 0.25} for c in COLORS]
    result = service.predict_records("colors", records + records)
    assert result.labels == ["no", "yes", "no", "yes"] * 2
    proba = result.probabilities
    assert abs(proba[0, 1] - proba[1, 1]) > 0.5
    # The same record gives the same answer, wherever it sits in the batch.
    np.testing.assert_array_equal(proba[:4], proba[4:])


@pytest.mark.parametrize(
    "batch",
    [
        ["b"],
        ["c", "a", "b"],
        ["d", "b", "c", "a"],
        ["b", "b", "b"],
        ["b", None, "zzz"],
    ],
)
def test_encoding_is_the_stored_one_not_refitted_per_request(colors, batch):
    service, _ = colors
    alone = _proba(service, [{"color": "b", "size": -0.4}])[0]
    assert alone[1] > 0.8  # "yes", as b is in training; a refitted code would read it as "a"
    records = [{"color": c, "size": -0.4} for c in batch]
    proba = _proba(service, records)
    for row, color in enumerate(batch):
        if color == "b":
            np.testing.assert_array_equal(proba[row], alone)
    # A fresh process reading the store (no cache) sees the same encoding.
    fresh = LocalService(service.settings)
    np.testing.assert_array_equal(_proba(fresh, records), proba)


def test_frames_from_a_file_and_records_agree(colors, tmp_path):
    service, _ = colors
    path = tmp_path / "new.csv"
    path.write_text("size,color\n0.1,d\n0.1,a\n-2,c\n")
    frame = pd.read_csv(path)
    from_frame = service.predict_frame("colors", frame)
    from_records = service.predict_records("colors", frame.to_dict("records"))
    assert from_frame.labels == from_records.labels == ["yes", "no", "no"]
    np.testing.assert_array_equal(from_frame.probabilities, from_records.probabilities)
    scored = from_frame.to_frame(frame)
    assert list(scored.columns) == [
        "size",
        "color",
        LABEL_COLUMN,
        "probability_no",
        "probability_yes",
    ]
    assert scored[LABEL_COLUMN].tolist() == ["yes", "no", "no"]


def test_unseen_category_is_missing_with_a_warning(colors):
    service, _ = colors
    result = service.predict_records(
        "colors", [{"color": "purple", "size": 0.0}, {"color": None, "size": 0.0}]
    )
    assert result.warnings == [
        "column 'color': unseen categories ['purple'] treated as missing (rows [0])"
    ]
    np.testing.assert_array_equal(result.probabilities[0], result.probabilities[1])


def test_extra_field_is_a_warning_and_missing_or_wrong_ones_are_errors(colors):
    service, _ = colors
    result = service.predict_records("colors", [{"color": "a", "size": 1, "note": "x"}])
    assert result.warnings == ["ignored columns not used by the model: note"]
    with pytest.raises(InvalidInput, match="missing feature columns: size"):
        service.predict_records("colors", [{"color": "a"}])
    with pytest.raises(InvalidInput, match="column 'size' must be numeric; row 2 has 'big'"):
        service.predict_records(
            "colors",
            [{"color": "a", "size": 1}, {"color": "b", "size": "2"}, {"color": "c", "size": "big"}],
        )


def test_records_output_is_json_ready(colors):
    service, _ = colors
    records = service.predict_records("colors", [{"color": "d", "size": 0.0}]).records()
    assert json.loads(json.dumps(records)) == records
    [row] = records
    assert row["label"] == "yes"
    assert set(row["probabilities"]) == {"no", "yes"}
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_contributions_explain_the_category(colors):
    service, _ = colors
    result = service.predict_records(
        "colors", [{"color": "a", "size": 0.3}, {"color": "d", "size": 0.3}], contributions=True
    )
    for row in result.contributions:
        assert set(row) == {"color", "size"}
        assert next(iter(row)) == "color"  # largest magnitude first
        assert row["color"] > 0  # it pushes toward the predicted class


@pytest.mark.parametrize(
    ("records", "error", "message"),
    [
        ([], InvalidInput, "records must be a non-empty list of objects"),
        ({"color": "a"}, InvalidInput, "records must be a non-empty list of objects"),
        ([{"color": "a"}, 3], InvalidInput, "record 1 is not an object"),
        ([{"color": {"x": 1}}], InvalidInput, "record 0, field 'color': nested values"),
        ([{"color": "a"}] * 11, TooLarge, "11 records exceed the batch limit of 10"),
    ],
)
def test_bad_record_batches_are_refused(records, error, message):
    with pytest.raises(error, match=message):
        records_to_frame(records, max_rows=10)


def test_contributions_keep_features_whose_names_contain_double_underscores(tmp_path):
    penguins = palmerpenguins.load_penguins().dropna()
    frame = penguins.rename(
        columns={"bill_length_mm": "bill__length", "bill_depth_mm": "bill__depth"}
    )
    # A datetime feature is the one whose matrix columns ("measured__year", ...) must merge.
    days = np.random.default_rng(0).integers(0, 1000, len(frame))
    frame["measured"] = (pd.Timestamp("2007-01-01") + pd.to_timedelta(days, unit="D")).astype(str)
    path = tmp_path / "penguins.csv"
    frame.to_csv(path, index=False)
    service = LocalService(Settings(registry_dir=tmp_path / "registry", train_threads=1))
    service.train(str(path), target="species", name="p", params={"n_estimators": 20})

    records = frame.drop(columns="species").head(5).to_dict("records")
    result = service.predict_records("p", records, contributions=True)

    features = {"island", "bill__length", "bill__depth", "flipper_length_mm", "body_mass_g"}
    features |= {"sex", "year", "measured"}
    for row in result.contributions:
        assert set(row) == features
    # Bill length alone tells Adelie from the others: it cannot be silent.
    assert any(abs(row["bill__length"]) > 0.1 for row in result.contributions)
