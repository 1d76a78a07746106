"""Feedback: labels for logged predictions, matched against the log with DuckDB."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.errors import InvalidInput, TooLarge
from dsba.monitoring import layout
from dsba.monitoring.feedback_store import MAX_ITEMS, record_feedback
from dsba.monitoring.ids import new_ids
from dsba.monitoring.prediction_log import PredictionLog
from dsba.service import LocalService

PENGUIN = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5}
PENGUIN |= {"flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female", "year": 2008}


def _logged_ids(root, rows: int = 4) -> list[str]:
    log = PredictionLog(root)
    service = LocalService(Settings(registry_dir=root), prediction_log=log)
    ids = service.predict_records("penguins", [PENGUIN] * rows, source="api").ids
    log.close()
    return ids


def read_feedback(root) -> pd.DataFrame:
    """Every stored label, latest received_at per id (how a reader takes them)."""
    files = [str(f) for f in layout.feedback_files(root, "penguins")]
    return duckdb.sql(
        "SELECT id, arg_max(label, received_at) AS label, count(*) AS n "
        f"FROM read_parquet({json.dumps(files)}) GROUP BY id ORDER BY id"
    ).df()


def test_feedback_counts_accepted_unmatched_and_invalid_items(penguins_registry):
    ids = _logged_ids(penguins_registry)
    [stranger] = new_ids(1, 1_700_000_000.0)  # well formed, never logged
    items = [
        {"id": ids[0], "label": "Adelie"},
        {"id": ids[1], "label": "Gentoo"},
        {"id": ids[1], "label": "Chinstrap"},  # a correction in the same request: last wins
        {"id": stranger, "label": "Adelie"},
        {"id": "no-such-id", "label": "Adelie"},
        {"id": ids[2], "label": "Dodo"},
        {"id": ids[3]},
        "Adelie",
        {"id": ids[3], "label": ["Adelie"]},
    ]

    answer = record_feedback(penguins_registry, "penguins", items)

    assert answer["accepted"] == 3 and answer["unmatched"] == 2
    assert [(e["index"], e["id"]) for e in answer["invalid"]] == [
        (5, ids[2]),
        (6, ids[3]),
        (7, None),
        (8, ids[3]),
    ]
    assert "'Dodo' is not a class of penguins:1" in answer["invalid"][0]["reason"]
    assert "Adelie, Chinstrap, Gentoo" in answer["invalid"][0]["reason"]
    stored = read_feedback(penguins_registry)
    assert stored[["id", "label"]].values.tolist() == sorted(
        [[ids[0], "Adelie"], [ids[1], "Chinstrap"]]
    )
    assert stored["n"].tolist() == [1, 1]  # one row per id in a request


def test_a_later_request_overrides_an_earlier_label(penguins_registry):
    ids = _logged_ids(penguins_registry, rows=2)
    first = record_feedback(
        penguins_registry, "penguins", [{"id": i, "label": "Adelie"} for i in ids]
    )
    second = record_feedback(penguins_registry, "penguins", [{"id": ids[0], "label": "Gentoo"}])

    assert first["accepted"] == 2 and second["accepted"] == 1
    stored = read_feedback(penguins_registry).set_index("id")
    assert stored.loc[ids[0], "label"] == "Gentoo" and stored.loc[ids[1], "label"] == "Adelie"
    assert len(layout.feedback_files(penguins_registry, "penguins")) == 2


def test_labels_are_matched_as_text_like_the_logged_prediction(tmp_path, penguins_csv):
    root = tmp_path / "registry"
    service = LocalService(Settings(registry_dir=root, train_threads=1))
    service.train(str(penguins_csv), target="year", name="years", params={"n_estimators": 5})
    log = PredictionLog(root)
    row = {k: v for k, v in PENGUIN.items() if k != "year"} | {"species": "Adelie"}
    logged = LocalService(service.settings, prediction_log=log)
    ids = logged.predict_records("years", [row] * 4, source="api").ids
    log.close()
    labels = [2008, "2008", 2009.0, 2010]

    answer = record_feedback(root, "years", [{"id": i, "label": x} for i, x in zip(ids, labels)])

    assert answer["accepted"] == 3
    assert [e["index"] for e in answer["invalid"]] == [3]
    assert "'2010' is not a class of years:1 (2007, 2008, 2009)" in answer["invalid"][0]["reason"]


def test_an_id_past_retention_or_of_another_model_is_unmatched(penguins_registry):
    ids = _logged_ids(penguins_registry, rows=1)

    assert record_feedback(penguins_registry, "other", [{"id": ids[0], "label": "Adelie"}]) == {
        "accepted": 0,
        "unmatched": 1,
        "invalid": [],
    }
    for day_dir in layout.log_dir(penguins_registry, "penguins", 1).iterdir():
        day_dir.rename(day_dir.with_name("2000-01-01"))  # its rows are no longer under their day
    answer = record_feedback(penguins_registry, "penguins", [{"id": ids[0], "label": "Adelie"}])
    assert answer["unmatched"] == 1


def test_too_many_items_or_no_list_is_refused(penguins_registry):
    with pytest.raises(TooLarge):
        record_feedback(
            penguins_registry, "penguins", [{"id": "x", "label": "y"}] * (MAX_ITEMS + 1)
        )
    with pytest.raises(InvalidInput):
        record_feedback(penguins_registry, "penguins", {"id": "x", "label": "y"})


def test_feedback_without_a_model_goes_to_the_model_that_logged_each_id(
    penguins_registry, penguins_csv
):
    """Two models logged ids; one request without a model name labels both, counted once."""
    log = PredictionLog(penguins_registry)
    service = LocalService(Settings(registry_dir=penguins_registry), prediction_log=log)
    service.train(str(penguins_csv), target="species", name="birds", params={"n_estimators": 5})
    penguin_ids = service.predict_records("penguins", [PENGUIN] * 2, source="api").ids
    bird_ids = service.predict_records("birds:1", [PENGUIN] * 2, source="api").ids
    log.close()
    [stranger] = new_ids(1, 1_700_000_000.0)
    items = [
        {"id": penguin_ids[0], "label": "Adelie"},
        {"id": bird_ids[0], "label": "Gentoo"},
        {"id": stranger, "label": "Adelie"},
        {"id": bird_ids[1], "label": "Dodo"},
        {"id": penguin_ids[1]},
        {"id": bird_ids[0], "label": "Chinstrap"},
    ]

    answer = service.feedback(None, items)

    assert answer["accepted"] == 3 and answer["unmatched"] == 1
    assert [(e["index"], e["id"]) for e in answer["invalid"]] == [
        (3, bird_ids[1]),
        (4, penguin_ids[1]),
    ]
    assert "not a class of birds:1" in answer["invalid"][0]["reason"]
    assert read_feedback(penguins_registry)[["id", "label"]].values.tolist() == [
        [penguin_ids[0], "Adelie"]
    ]
    birds = layout.feedback_files(penguins_registry, "birds")
    labels = duckdb.sql(
        "SELECT id, arg_max(label, received_at) FROM read_parquet($f) GROUP BY id",
        params={"f": [str(f) for f in birds]},
    ).fetchall()
    assert labels == [(bird_ids[0], "Chinstrap")]
    # With a model named, only its log is searched: the other model's id is unmatched.
    named = service.feedback("penguins:1", items[:2])
    assert named["accepted"] == 1 and named["unmatched"] == 1


def test_feedback_without_a_model_lists_only_days_within_retention(penguins_registry, monkeypatch):
    """Ids forged to name 10,000 different days cost no listing of those days' folders."""
    ids = _logged_ids(penguins_registry, rows=1)
    forged = [new_ids(1, 86_400.0 * day)[0] for day in range(40_000, 49_999)]
    listed = []
    original = layout.live_files
    monkeypatch.setattr(layout, "live_files", lambda day: listed.append(day) or original(day))
    service = LocalService(Settings(registry_dir=penguins_registry))
    items = [{"id": i, "label": "Adelie"} for i in [*forged, ids[0]]]

    answer = service.feedback(None, items)

    assert answer["accepted"] == 1 and answer["unmatched"] == 9_999
    assert len({day.name for day in listed}) == 1  # the day the real id was logged


def test_feedback_for_a_named_model_lists_only_the_days_its_log_has(penguins_registry, monkeypatch):
    """The same forged ids sent with a model name list only the day folders that exist."""
    ids = _logged_ids(penguins_registry, rows=1)
    forged = [new_ids(1, 86_400.0 * day)[0] for day in range(40_000, 49_999)]
    listed = []
    original = layout.live_files
    monkeypatch.setattr(layout, "live_files", lambda day: listed.append(day) or original(day))

    answer = record_feedback(
        penguins_registry, "penguins", [{"id": i, "label": "Adelie"} for i in [*forged, ids[0]]]
    )

    assert answer["accepted"] == 1 and answer["unmatched"] == 9_999
    assert len(listed) == 1
