"""Training on a real Dask cluster (a scheduler and two worker processes on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datagen import colour_logit

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import Dataset
from dsba.data.schema import infer_schema, prepare_features
from dsba.errors import DsbaError, InvalidInput
from dsba.model import dask_training
from dsba.model.dask_training import FIT, TEST, VALIDATION, connect, row_parts, train_model_dask
from dsba.model.training import train_model
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
key_split = pytest.importorskip("dask.utils").key_split

pytestmark = [
    pytest.mark.slow,
]

FAST = {"n_estimators": 60, "early_stopping_rounds": 10}


@pytest.fixture
def client(dask_cluster) -> Iterator[distributed.Client]:
    """Return a client of the module's cluster, made the way the job process makes one."""
    with connect(dask_cluster.scheduler_address) as connected:
        yield connected


def parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write frame as the dataset store does (no index) and return the path."""
    frame.to_parquet(path, index=False)
    return path


def test_row_parts_are_seeded_and_independent_of_partitioning():
    frame = colour_logit(40_000)

    parts = row_parts(frame, 42, 0.2, 0.1)

    halves = np.concatenate(
        [row_parts(half, 42, 0.2, 0.1) for half in (frame.iloc[:12_345], frame.iloc[12_345:])]
    )
    assert np.array_equal(parts, halves)
    shuffled = frame.sample(frac=1, random_state=1)
    assert np.array_equal(parts[shuffled.index], row_parts(shuffled, 42, 0.2, 0.1))
    assert (parts != row_parts(frame, 7, 0.2, 0.1)).mean() > 0.3
    # Shares within 4 binomial standard deviations of 20 % test, 8 % validation, 72 % fit.
    for part, share in ((TEST, 0.2), (VALIDATION, 0.08), (FIT, 0.72)):
        sigma = np.sqrt(share * (1 - share) / len(frame))
        assert abs((parts == part).mean() - share) < 4 * sigma
    # Every class gets about the same test share: a random split, stratified in expectation.
    for label in ("yes", "no"):
        assert abs((parts[frame["label"] == label] == TEST).mean() - 0.2) < 0.02
    duplicated = pd.concat([frame.head(50), frame.head(50)], ignore_index=True)
    assert np.array_equal(*np.split(row_parts(duplicated, 42, 0.2, 0.1), 2))


def test_sampled_schema_takes_classes_and_categories_from_every_row(client, tmp_path, monkeypatch):
    frame = colour_logit(3000)
    # Rare values a 300-row sample will almost surely miss: one colour, one class, and enough
    # one-off codes to push "code" over the category limit only when every row is counted.
    frame.loc[[10, 2000], "colour"] = "teal"
    frame.loc[[11, 2500], "label"] = "maybe"
    frame["code"] = [f"c{i % 25}" for i in range(3000)]
    frame.loc[range(100, 3000, 150), "code"] = [f"rare{i}" for i in range(20)]
    path = parquet(frame, tmp_path / "data.parquet")
    monkeypatch.setattr(dask_training, "SCHEMA_SAMPLE_ROWS", 300)

    with client.as_current():
        schema, sample_rows = dask_training.infer_schema_dask(
            dd.read_parquet(path), "label", max_categories=30, seed=42
        )

    assert 200 < sample_rows < 400
    assert schema == infer_schema(frame, "label", max_categories=30)
    assert schema.classes == ["maybe", "no", "yes"]
    assert "teal" in next(f for f in schema.features if f.name == "colour").categories
    assert schema.dropped == [
        {"column": "code", "reason": "too many categories: 45 distinct values (limit 30)"}
    ]


def test_a_sampled_schema_left_without_features_is_refused(client, tmp_path, monkeypatch):
    codes = [f"c{i % 25}" for i in range(3000)]
    codes[100:3000:150] = [f"rare{i}" for i in range(20)]
    frame = pd.DataFrame({"code": codes, "label": ["a", "b"] * 1500})
    path = parquet(frame, tmp_path / "data.parquet")
    monkeypatch.setattr(dask_training, "SCHEMA_SAMPLE_ROWS", 300)

    with client.as_current(), pytest.raises(InvalidInput, match="no usable feature columns"):
        dask_training.infer_schema_dask(dd.read_parquet(path), "label", max_categories=30, seed=1)


def test_column_choices_shape_the_sampled_schema_as_they_do_locally(client, tmp_path):
    frame = colour_logit(2000).assign(batch=[i % 5 for i in range(2000)])
    path = parquet(frame, tmp_path / "data.parquet")
    choices = {"exclude": ["x3"], "kinds": {"batch": "categorical", "colour": "ignore"}}

    with client.as_current():
        schema, _ = dask_training.infer_schema_dask(
            dd.read_parquet(path), "label", max_categories=30, seed=1, **choices
        )
        with pytest.raises(InvalidInput, match="kinds: column 'colour' must be numeric"):
            dask_training.infer_schema_dask(
                dd.read_parquet(path), "label", max_categories=30, seed=1,
                kinds={"colour": "numeric"},
            )  # fmt: skip

    assert schema == infer_schema(frame, "label", max_categories=30, **choices)
    assert [f.name for f in schema.features] == ["x0", "x1", "x2", "batch"]
    assert schema.choices == choices


def test_dask_training_splits_evaluates_and_reports_like_local_training(client, tmp_path):
    frame = colour_logit(6000)
    path = parquet(frame, tmp_path / "data.parquet")
    calls: list[tuple[int, int]] = []

    with distributed.get_task_stream(client) as stream:
        result, where = train_model_dask(
            client, path, "label", params=FAST, seed=3, progress=lambda d, t: calls.append((d, t))
        )

    parts = row_parts(pd.read_parquet(path), 3, 0.2, 0.1)
    assert result.rows == {
        "total": 6000,
        "labelled": 6000,
        "train": int((parts == FIT).sum()),
        "validation": int((parts == VALIDATION).sum()),
        "test": int((parts == TEST).sum()),
    }
    assert where["workers"] == 2 and where["partitions"] >= 2
    assert where["scheduler"] == client.scheduler.address
    # Every pass ran on the workers, both of them: schema, preparation, prediction.
    ran = " ".join(key_split(task["key"]) for task in stream.data)
    assert all(step in ran for step in ("len", "valuecounts", "unique", "prepare", "predict"))
    assert {task["worker"] for task in stream.data} == set(client.nthreads())
    assert result.schema == infer_schema(frame, "label")
    # The metrics are those of the saved booster on exactly the hash-selected test rows.
    test_rows = frame[parts == TEST]
    x, _ = prepare_features(result.schema, test_rows)
    predicted = np.where(result.booster.inplace_predict(x) > 0.5, "yes", "no")
    accuracy = float((predicted == test_rows["label"].to_numpy()).mean())
    assert result.evaluation["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert result.evaluation["metrics"]["accuracy"] > 0.9
    assert result.booster.num_boosted_rounds() == result.best_iteration + 1
    # Progress arrived from the workers, round by round, in order.
    assert calls[0] == (1, 60) and [d for d, _ in calls] == list(range(1, len(calls) + 1))
    assert len(calls) >= result.best_iteration + 1


def test_dask_model_agrees_with_local_models_as_much_as_they_agree_with_each_other(
    client, tmp_path
):
    frame = colour_logit(20_000, seed=1)
    path = parquet(frame, tmp_path / "data.parquet")

    on_dask, _ = train_model_dask(client, path, "label", params=FAST, seed=42)
    local = train_model(frame, "label", params=FAST, seed=42)
    local_other_split = train_model(frame, "label", params=FAST, seed=7)

    x, _ = prepare_features(local.schema, frame)
    dask_p, local_p, other_p = (
        model.booster.inplace_predict(x) for model in (on_dask, local, local_other_split)
    )
    agreement = float(((dask_p > 0.5) == (local_p > 0.5)).mean())
    reference = float(((other_p > 0.5) == (local_p > 0.5)).mean())
    # The Dask model trains on different rows (hash split, not sklearn's stratified one):
    # it may differ from the local model about as much as a local model with another seed.
    assert agreement >= reference - 0.01
    assert agreement >= 0.97
    assert float(np.abs(dask_p - local_p).mean()) < 0.04


def test_multiclass_real_data_with_missing_values(client, tmp_path, penguins_frame):
    path = parquet(penguins_frame, tmp_path / "penguins.parquet")

    result, _ = train_model_dask(client, path, "species", params=FAST, seed=42)

    local = train_model(penguins_frame, "species", params=FAST, seed=42)
    assert result.schema == local.schema
    assert result.evaluation["metrics"]["accuracy"] > 0.93
    x, _ = prepare_features(result.schema, penguins_frame)
    on_dask = result.booster.inplace_predict(x).argmax(axis=1)
    assert (on_dask == local.booster.inplace_predict(x).argmax(axis=1)).mean() > 0.95


def test_dask_training_profiles_a_sample_of_its_training_rows_for_monitoring(
    client, tmp_path, penguins_frame
):
    path = parquet(penguins_frame, tmp_path / "penguins.parquet")
    result, _ = train_model_dask(client, path, "species", params=FAST, seed=42)
    profiles = {p["name"]: p for p in result.reference["features"]}
    assert set(profiles) == {f.name for f in result.schema.features}
    train = result.rows["train"] + result.rows["validation"]
    assert profiles["island"]["rows"] == train
    assert sorted(profiles["island"]["categories"]) == ["Biscoe", "Dream", "Torgersen"]
    assert profiles["bill_length_mm"]["min"] >= penguins_frame["bill_length_mm"].min()
    assert result.reference["prediction"]["rows"] == result.rows["test"]
    expected = result.evaluation["metrics"]["accuracy"]
    assert result.reference["metrics"]["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_service_routes_a_large_enough_stored_dataset_to_the_cluster(dask_cluster, tmp_path):
    registry_dir = tmp_path / "registry"
    frame = colour_logit(3000)
    info = DatasetStore(registry_dir).save(Dataset(frame, "ab" * 32, "synthetic.csv", "csv", 1))
    settings = Settings(
        registry_dir=registry_dir, dask_scheduler=dask_cluster.scheduler_address, dask_min_bytes=0
    )

    meta = LocalService(settings).train_stored(
        info["id"], name="on-dask", target="label", params=FAST, seed=5
    )

    assert meta["version"] == 1 and meta["ran_on"] == f"dask:{dask_cluster.scheduler_address}"
    assert meta["dask"]["workers"] == 2 and meta["dask"]["partitions"] >= 2
    assert meta["dataset"]["rows"]["total"] == 3000 and meta["dataset"]["columns"] == 6
    model = ModelRegistry(registry_dir).load("on-dask:1")
    assert model.schema == infer_schema(frame, "label").to_dict()


def test_below_the_size_threshold_training_stays_local_without_contacting_dask(tmp_path):
    registry_dir = tmp_path / "registry"
    info = DatasetStore(registry_dir).save(
        Dataset(colour_logit(500), "cd" * 32, "synthetic.csv", "csv", 1)
    )
    # Nothing listens there: contacting it would fail the training.
    settings = Settings(
        registry_dir=registry_dir, dask_scheduler="tcp://127.0.0.1:9", dask_min_bytes=10**9
    )

    meta = LocalService(settings).train_stored(info["id"], name="local", target="label")

    assert meta["ran_on"].startswith("local:") and "dask" not in meta


def test_workers_that_cannot_read_the_store_are_a_clear_error(client, tmp_path, monkeypatch):
    path = parquet(colour_logit(1000), tmp_path / "data.parquet")
    read_parquet = dd.read_parquet

    def read_then_hide(where, **options):
        """Read the footer here, as the client does, then hide the file from the workers."""
        frame = read_parquet(where, **options)
        path.unlink()
        return frame

    monkeypatch.setattr(dask_training.dd, "read_parquet", read_then_hide)

    with pytest.raises(DsbaError, match="the Dask workers cannot read .*data.parquet"):
        train_model_dask(client, path, "label", params=FAST)


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(DsbaError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        connect("tcp://127.0.0.1:9", timeout="1s")
