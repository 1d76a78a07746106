"""Unseen categories and missing values reported per column and per row, on both scoring paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from passengers import FEATURES, KNOWN_WOMAN, MISSPELT_WOMAN, passengers

from dsba.config import Settings
from dsba.data.ingestion import read_bytes
from dsba.data.schema import FeatureSchema
from dsba.model.prediction import UNSEEN_COLUMN, WARNINGS_COLUMN
from dsba.service import LocalService

# Four of the six features have no usable value: the row is mostly guesswork.
MOSTLY_UNSEEN = {"pclass": "first", "sex": "Female", "age": None, "fare": 10.0}
MOSTLY_UNSEEN |= {"embarked": "Southampton", "sibsp": 1}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> LocalService:
    """A store holding 'titanic', trained on passengers()."""
    raw = passengers().to_csv(index=False).encode()
    root = tmp_path_factory.mktemp("titanic") / "registry"
    service = LocalService(Settings(registry_dir=Path(root), train_threads=1))
    dataset = read_bytes(raw, source="passengers.csv", filename="passengers.csv")
    service.train(dataset, target="survived", name="titanic", params={"n_estimators": 50})
    return service


def _batch() -> list[dict]:
    return [{**KNOWN_WOMAN, "sibsp": 0}, {**MISSPELT_WOMAN, "sibsp": 0}, MOSTLY_UNSEEN]


@pytest.mark.parametrize("path", ["records", "frame"])
def test_misspelt_categories_are_named_on_the_rows_they_hit(service, path):
    records = _batch()
    if path == "records":
        result = service.predict_records("titanic", records)
    else:
        result = service.predict_frame("titanic", pd.DataFrame.from_records(records))

    known, misspelt, mostly = result.records()
    # The case: the spelling alone turns a likely survivor into a likely victim.
    assert known["label"] == "yes" and known["probabilities"]["yes"] > 0.9
    assert misspelt["label"] == "no"
    assert "unseen" not in known and "unreliable" not in known
    assert misspelt["unseen"] == {"pclass": "first", "sex": "Female"}
    assert "unreliable" not in misspelt
    assert mostly["unseen"] == {"pclass": "first", "sex": "Female", "embarked": "Southampton"}
    assert mostly["unreliable"] is True
    assert result.warnings[-1] == (
        "1 row has most of the 6 features unseen or missing; "
        "their predictions rest on the few left (rows [2])"
    )


def test_the_scored_file_flags_each_row(service):
    frame = pd.DataFrame.from_records(_batch())
    scored = service.predict_frame("titanic", frame).to_frame(frame, flags=True)

    assert scored[UNSEEN_COLUMN].tolist() == [0, 2, 3]
    assert scored[WARNINGS_COLUMN].tolist() == [
        "",
        "unseen pclass='first', sex='Female'",
        "unseen pclass='first', sex='Female', embarked='Southampton'; "
        "unreliable: 4 of 6 features unseen or missing",
    ]
    # Without flags the file keeps the columns it always had.
    assert UNSEEN_COLUMN not in service.predict_frame("titanic", frame).to_frame(frame)


def test_the_summary_counts_unseen_values_per_column_with_examples(service):
    frame = pd.DataFrame.from_records([MISSPELT_WOMAN | {"sibsp": 0}] * 3 + [MOSTLY_UNSEEN])
    result = service.predict_frame("titanic", frame)
    schema = FeatureSchema.from_dict(service.registry.get_schema("titanic"))

    summary = result.report.summary(schema)

    assert (summary["rows"], summary["features"], summary["rows_with_unseen"]) == (4, 6, 4)
    assert (summary["unreliable"], summary["unreliable_rows"]) == (1, [3])
    by_name = {column["name"]: column for column in summary["columns"]}
    assert list(by_name) == ["pclass", "sex", "embarked", "age"]
    sex = by_name["sex"]
    assert (sex["unseen"], sex["missing"], sex["rows"]) == (4, 0, [0, 1, 2, 3])
    # A value differing only in case points at the category the model knows.
    assert sex["examples"] == [{"value": "Female", "count": 4, "suggest": "female"}]
    assert sex["known"] == ["female", "male"]
    assert by_name["pclass"]["examples"] == [{"value": "first", "count": 4, "suggest": None}]
    assert by_name["pclass"]["known"] == ["1st", "2nd", "3rd"]
    assert (by_name["age"]["unseen"], by_name["age"]["missing"]) == (0, 1)


def test_a_clean_batch_keeps_the_answer_it_always_had(service):
    frame = passengers(rows=50, seed=1)[FEATURES]
    result = service.predict_records("titanic", frame.to_dict("records"))
    schema = FeatureSchema.from_dict(service.registry.get_schema("titanic"))

    # Nothing unseen or missing; one fare lies just past the highest the model trained on.
    assert result.warnings == [
        "values outside the training range, where the model extrapolates: "
        "fare in 1 row (e.g. 103.95; trained on 5.6 to 103.85)"
    ]
    assert all(set(row) == {"label", "probabilities"} for row in result.records())
    assert result.report.summary(schema)["columns"] == []
