"""Columns left out and kinds chosen by the user: training, the schema, prediction, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.column_choices import check_choices
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import parse_bytes, read_bytes
from dsba.data.profile import column_notes, profile_frame
from dsba.errors import Conflict, InvalidInput
from dsba.jobs.job_store import JobStore
from dsba.model.training import train_model
from dsba.service import LocalService

FAST = {"n_estimators": 15}


@pytest.fixture(scope="module")
def analyst_table(penguins_frame: pd.DataFrame) -> pd.DataFrame:
    """penguins with an id, a constant, a code-as-number and a many-valued text column."""
    frame = penguins_frame.copy()
    rng = np.random.default_rng(3)
    frame.insert(0, "penguin_ref", [f"P{i:04d}" for i in range(len(frame))])
    frame["colony"] = "antarctica"
    frame["nest_code"] = rng.integers(100, 104, len(frame))  # a code: four values
    frame["observer"] = [f"observer-{i % 120}" for i in range(len(frame))]
    return frame


def test_excluded_and_ignored_columns_are_left_out_with_the_reason(penguins_frame):
    result = train_model(
        penguins_frame,
        "species",
        params=FAST,
        exclude=["island"],
        kinds={"sex": "ignore", "year": "categorical"},
    )
    features = {f.name: f for f in result.schema.features}
    assert "island" not in features and "sex" not in features
    assert features["year"].kind == "categorical"
    assert features["year"].categories == ["2007", "2008", "2009"]
    dropped = {d["column"]: d["reason"] for d in result.schema.dropped}
    assert dropped["island"].startswith("excluded") and dropped["sex"].startswith("excluded")
    # The schema keeps what was asked, so a retrain can start from it.
    assert result.schema.choices == {
        "exclude": ["island"],
        "kinds": {"sex": "ignore", "year": "categorical"},
    }


def test_a_chosen_kind_is_what_prediction_reads(penguins_frame, tmp_path):
    service = LocalService(Settings(registry_dir=tmp_path, train_threads=1))
    dataset = read_bytes(penguins_frame.to_csv(index=False).encode(), source="penguins.csv")
    meta = service.train(
        dataset, target="species", name="kinds", params=FAST, kinds={"year": "categorical"}
    )
    assert meta["columns"] == {"exclude": [], "kinds": {"year": "categorical"}}
    schema = service.registry.get_schema("kinds:1")
    assert {f["name"]: f["kind"] for f in schema["features"]}["year"] == "categorical"
    assert schema["choices"] == {"kinds": {"year": "categorical"}}
    row = penguins_frame.drop(columns="species").iloc[0].to_dict()
    # A year as a number or as text is the same category; one never seen is reported.
    as_number = service.predict_records("kinds", [{**row, "year": 2007}])
    as_text = service.predict_records("kinds", [{**row, "year": "2007"}])
    assert as_number.labels == as_text.labels
    np.testing.assert_allclose(as_number.probabilities, as_text.probabilities)
    unseen = service.predict_records("kinds", [{**row, "year": 2031}])
    assert any("unseen categories ['2031']" in w for w in unseen.warnings)


def test_a_chosen_kind_keeps_an_id_like_column(analyst_table):
    inferred = train_model(analyst_table, "species", params=FAST)
    assert "nest_code" in {f.name for f in inferred.schema.features}
    assert {d["column"] for d in inferred.schema.dropped} == {"penguin_ref", "colony"}
    chosen = train_model(analyst_table, "species", params=FAST, kinds={"nest_code": "categorical"})
    kinds = {f.name: f.kind for f in chosen.schema.features}
    assert kinds["nest_code"] == "categorical"
    # A constant column stays out whatever kind it is given.
    constant = train_model(analyst_table, "species", params=FAST, kinds={"colony": "categorical"})
    assert {d["column"]: d["reason"] for d in constant.schema.dropped}["colony"].startswith(
        "constant"
    )


@pytest.mark.parametrize(
    ("exclude", "kinds", "message", "errors"),
    [
        (["beak"], None, "exclude: column 'beak' not found", {"exclude": "beak"}),
        (["species"], None, "exclude: 'species' is the target column", {"exclude": "species"}),
        ("island", None, "exclude must be a list of column names", {"exclude": "island"}),
        (None, {"year": "text"}, "kinds: 'text' for column 'year' is not", {"kinds": "year"}),
        (None, {"beak": "numeric"}, "kinds: column 'beak' not found", {"kinds": "beak"}),
        (None, ["year"], "kinds must be an object", {"kinds": ["year"]}),
        (None, {"island": "numeric"}, "kinds: column 'island' must be numeric; row 0 has", None),
        (None, {"sex": "datetime"}, "kinds: column 'sex' must be a date/time; row 0 has", None),
    ],
)
def test_bad_choices_are_refused_naming_the_column(penguins_frame, exclude, kinds, message, errors):
    with pytest.raises(InvalidInput) as refused:
        train_model(penguins_frame, "species", params=FAST, exclude=exclude, kinds=kinds)
    assert refused.value.message.startswith(message), refused.value.message
    if errors:
        assert errors.items() <= refused.value.errors.items()
    else:
        assert refused.value.errors["kinds"] in ("island", "sex")


def test_check_choices_keeps_order_and_drops_repeats():
    assert check_choices(["a", "b", "y"], "y", ["b", "a", "b"], {"a": "numeric"}) == (
        ["b", "a"],
        {"a": "numeric"},
    )


def test_the_profile_marks_columns_training_would_drop_or_should_watch(analyst_table):
    profile = profile_frame(analyst_table)
    notes = column_notes(profile, max_categories=1000)
    assert notes["penguin_ref"] == {"unusable": "ID-like: a different value on every row"}
    assert notes["colony"] == {"unusable": "constant: a single value"}
    assert notes["observer"]["warning"].startswith("high cardinality: 120 categories")
    assert "species" not in notes and "nest_code" not in notes and "island" not in notes
    few = column_notes(profile, max_categories=100)
    assert few["observer"] == {"unusable": "too many categories: 120 distinct values (limit 100)"}
    numbered = profile_frame(analyst_table.assign(row=range(1, len(analyst_table) + 1)))
    assert column_notes(numbered, 1000)["row"]["unusable"].startswith("ID-like: a unique integer")


@pytest.mark.parametrize("name", ["export.dat", "penguins", "data.json", "data.parquet"])
def test_csv_content_is_read_as_csv_whatever_its_name(name):
    frame, fmt = parse_bytes(b"a,b,label\n1,x,yes\n2,y,no\n", filename=name)
    assert fmt == "csv" and list(frame.columns) == ["a", "b", "label"]


def test_known_bytes_under_a_new_name_take_that_name(tmp_path):
    store = DatasetStore(tmp_path)
    raw = b"a,label\n1,yes\n2,no\n3,yes\n"
    first = store.save(read_bytes(raw, source="upload:first.csv"), "first.csv")
    again = store.save(read_bytes(raw, source="upload:second.csv"), "second.csv")
    assert again["id"] == first["id"]
    assert again["filename"] == "second.csv" and store.get(first["id"])["filename"] == "second.csv"
    assert [d["filename"] for d in store.list()] == ["second.csv"]


def test_a_finished_job_can_be_deleted_an_active_one_not(tmp_path):
    jobs = JobStore(Settings(registry_dir=tmp_path))
    active = jobs.create({"dataset_id": "0123456789abcdef", "name": "m", "target": "y"})
    done = jobs.create({"dataset_id": "0123456789abcdef", "name": "m", "target": "y"})
    jobs.write({**done, "state": "failed", "error": "boom"})
    active = {**active, "state": "running", "pid": 1, "host": "elsewhere", "heartbeat_at": None}
    jobs.write({**active, "heartbeat_at": done["created_at"]})
    with pytest.raises(Conflict, match="cancel it first"):
        jobs.delete(active["id"])
    assert jobs.delete(done["id"]) == {"deleted": done["id"]}
    assert [job["id"] for job in jobs.list()] == [active["id"]]


def test_the_cli_trains_with_exclude_and_kind(penguins_csv, tmp_path, cli):
    result = cli(
        tmp_path,
        "--json",
        "train",
        str(penguins_csv),
        "--target",
        "species",
        "--name",
        "chosen",
        "--param",
        "n_estimators=15",
        "--exclude",
        "island",
        "--exclude",
        "sex",
        "--kind",
        "year=categorical",
    )
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)
    assert "island" not in meta["features"] and "sex" not in meta["features"]
    assert meta["columns"] == {"exclude": ["island", "sex"], "kinds": {"year": "categorical"}}
    bad = cli(tmp_path, "train", str(penguins_csv), "--target", "species", "--name", "x",
              "--kind", "island=numeric")  # fmt: skip
    assert bad.exit_code == 3
    assert "kinds: column 'island' must be numeric; row 0 has 'Torgersen'" in bad.stderr
    malformed = cli(tmp_path, "train", str(penguins_csv), "--target", "species", "--name", "x",
                    "--kind", "year")  # fmt: skip
    assert malformed.exit_code == 3 and "must look like COLUMN=KIND" in malformed.stderr


def test_the_cli_deletes_a_finished_job(tmp_path, cli):
    jobs = JobStore(Settings(registry_dir=tmp_path))
    job = jobs.create({"dataset_id": "0123456789abcdef", "name": "m", "target": "y"})
    refused = cli(tmp_path, "jobs", "delete", job["id"])
    assert refused.exit_code == 5 and "cancel it first" in refused.stderr
    jobs.write({**job, "state": "cancelled"})
    deleted = cli(tmp_path, "jobs", "delete", job["id"])
    assert deleted.exit_code == 0 and deleted.stdout.strip() == f"deleted job {job['id']}"
    assert cli(tmp_path, "--json", "jobs", "list").stdout.strip() == "[]"
