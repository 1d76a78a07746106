"""The prediction log's write path: rows as scored, ids, sampling, bounded buffer, failures."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from passengers import passengers
from readonly import make_read_only, make_writable

from dsba.config import Settings
from dsba.errors import InvalidInput
from dsba.monitoring import layout
from dsba.monitoring import prediction_log as prediction_log_module
from dsba.monitoring.ids import ID_LENGTH, ID_PATTERN, id_time, new_ids
from dsba.monitoring.prediction_log import PredictionLog
from dsba.service import LocalService

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_SAFE = r"^[A-Za-z0-9_-]+$"


def read_log(root: Path, name: str, version: int = 1) -> pd.DataFrame:
    """Every live row of a version's log, as a reader takes them."""
    folder = layout.log_dir(root, name, version)
    files = [f for day in sorted(folder.glob("*")) for f in layout.live_files(day)]
    if not files:
        return pd.DataFrame()
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


PENGUIN = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5}
PENGUIN |= {"flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female", "year": 2008}


def _service(root: Path, **options) -> tuple[LocalService, PredictionLog]:
    prediction_log = PredictionLog(root, **options)
    return LocalService(Settings(registry_dir=root), prediction_log=prediction_log), prediction_log


def test_ids_are_url_safe_sortable_and_distinct_across_forked_processes():
    script = textwrap.dedent(
        """
        import os, time
        from dsba.monitoring.ids import new_ids
        before = new_ids(3, time.time())
        read, write = os.pipe()
        if os.fork() == 0:
            os.write(write, " ".join(new_ids(1000, time.time())).encode())
            os._exit(0)
        os.wait()
        child = os.read(read, 1 << 20).decode().split()
        print(" ".join(before + new_ids(1000, time.time()) + child))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    ids = [i for run in runs for i in run]

    assert len(ids) == 2 * 2003
    assert len(set(ids)) == len(ids)  # two processes, and a fork of each
    assert all(len(i) == ID_LENGTH <= 32 and ID_PATTERN.match(i) for i in ids)
    assert all(pd.Series(ids).str.match(URL_SAFE))
    parent = runs[0][:1003]
    assert parent == sorted(parent)  # one process's ids sort in the order they were made


def test_an_id_carries_its_time():
    [made] = new_ids(1, 1_700_000_000.123)

    assert id_time(made).timestamp() == pytest.approx(1_700_000_000.123, abs=0.001)
    assert id_time("not-an-id") is None
    assert id_time("Z" * 30) is None


def _typed_training_frame() -> pd.DataFrame:
    frame = passengers(rows=300, seed=3)
    frame["alone"] = np.where(frame["sibsp"] == 0, "yes", "no")
    frame["boarded"] = pd.date_range("2024-04-01", periods=len(frame), freq="7h").strftime(
        "%Y-%m-%d %H:%M"
    )
    return frame


@pytest.fixture(scope="module")
def typed_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 'voyage': numeric, categorical, boolean and datetime features."""
    root = tmp_path_factory.mktemp("typed") / "registry"
    path = root.parent / "voyage.csv"
    _typed_training_frame().to_csv(path, index=False)
    LocalService(Settings(registry_dir=root, train_threads=1)).train(
        str(path), target="survived", name="voyage", params={"n_estimators": 20}
    )
    return root


def test_logged_rows_hold_the_features_label_and_probabilities_scored(typed_registry, tmp_path):
    root = tmp_path / "registry"
    import shutil

    shutil.copytree(typed_registry, root)
    service, prediction_log = _service(root)
    kinds = {f["name"]: f["kind"] for f in service.registry.get_schema("voyage")["features"]}
    assert {"numeric", "categorical", "boolean", "datetime"} <= set(kinds.values())
    records = [
        {"pclass": "1st", "sex": "female", "age": 30, "fare": 80.5, "embarked": "S"}
        | {"sibsp": 0, "alone": "yes", "boarded": "2024-05-01 10:30"},
        # Unseen category, missing values, a boolean given as a bool.
        {"pclass": "first", "sex": None, "age": None, "fare": 7.25, "embarked": "Q"}
        | {"sibsp": 2, "alone": False, "boarded": None},
    ]
    frame = pd.DataFrame(records[:1] * 3)

    by_records = service.predict_records("voyage", records, source="api", request_id="r-1")
    by_frame = service.predict_frame("voyage:1", frame, source="batch", request_id="r-2")
    unlogged = service.predict_records("voyage", records)  # no source: not a served request
    prediction_log.close()

    logged = read_log(root, "voyage")
    assert unlogged.ids is None
    assert logged["id"].tolist() == by_records.ids + by_frame.ids
    assert logged["source"].tolist() == ["api"] * 2 + ["batch"] * 3
    assert logged["request_id"].tolist() == ["r-1"] * 2 + ["r-2"] * 3
    assert set(logged["model"]) == {"voyage"} and set(logged["version"]) == {1}
    assert logged["prediction"].tolist() == [str(x) for x in by_records.labels + by_frame.labels]
    probabilities = np.vstack([by_records.probabilities, by_frame.probabilities])
    for i, label in enumerate(by_records.classes):
        assert logged[f"proba:{label}"].to_numpy() == pytest.approx(probabilities[:, i])
    first, second = logged.iloc[0], logged.iloc[1]
    assert first["feature:pclass"] == "1st" and second["feature:pclass"] == "first"  # raw text
    assert first["feature:age"] == 30.0 and math.isnan(second["feature:age"])
    assert first["feature:fare"] == 80.5 and second["feature:fare"] == 7.25
    assert pd.isna(second["feature:sex"])
    assert (first["feature:alone"], second["feature:alone"]) == (1.0, 0.0)
    assert first["feature:boarded"] == pd.Timestamp("2024-05-01 10:30", tz="UTC")
    assert pd.isna(second["feature:boarded"])
    assert logged["ts"].dt.tz is not None
    assert [r["id"] for r in by_records.records()] == by_records.ids


def test_files_of_a_version_share_one_schema_and_are_named_per_writer(penguins_registry):
    service, prediction_log = _service(penguins_registry, flush_seconds=3600)
    service.predict_records("penguins", [PENGUIN], source="api")
    prediction_log.flush()
    service.predict_records("penguins", [{**PENGUIN, "sex": None, "island": None}], source="api")
    prediction_log.flush()

    files = sorted(layout.log_dir(penguins_registry, "penguins", 1).glob("*/*.parquet"))
    assert len(files) == 2
    assert pq.read_schema(files[0]) == pq.read_schema(files[1])
    assert all(f.name.startswith(f"{os.uname().nodename[:10]}") for f in files)
    assert f"-{os.getpid()}-" in files[0].name


def test_sampling_logs_whole_requests_and_only_they_get_ids(penguins_registry):
    service, prediction_log = _service(penguins_registry, sample=0.5)
    rows = [PENGUIN] * 2
    results = [service.predict_records("penguins", rows, source="api") for _ in range(200)]
    prediction_log.close()

    logged = [r for r in results if r.ids is not None]
    assert 50 <= len(logged) <= 150  # p < 1e-12 of falling outside for a fair coin
    assert sorted(read_log(penguins_registry, "penguins")["id"]) == sorted(
        i for r in logged for i in r.ids
    )
    assert all("id" not in row for r in results if r.ids is None for row in r.records())


def test_sample_zero_logs_nothing(penguins_registry):
    service, prediction_log = _service(penguins_registry, sample=0.0)
    result = service.predict_records("penguins", [PENGUIN], source="api")
    prediction_log.close()

    assert result.ids is None
    assert "id" not in result.to_frame(pd.DataFrame([PENGUIN])).columns
    assert not layout.model_dir(penguins_registry, "penguins").exists()


def test_a_full_buffer_drops_and_counts_rows_instead_of_growing(penguins_registry):
    drops = []
    service, prediction_log = _service(
        penguins_registry, max_buffered_rows=4, flush_seconds=3600, on_drop=drops.append
    )
    rows = [PENGUIN] * 3
    kept = service.predict_records("penguins", rows, source="api")
    refused = service.predict_records("penguins", rows, source="api")
    prediction_log.close()

    assert kept.ids is not None and refused.ids is None
    assert len(refused.labels) == 3  # the prediction itself is untouched
    assert prediction_log.dropped == 3 and drops == [3]
    assert read_log(penguins_registry, "penguins")["id"].tolist() == kept.ids


def test_a_read_only_store_drops_counts_and_warns_once_then_recovers(penguins_registry, caplog):
    monitoring = penguins_registry / layout.MONITORING_DIR
    monitoring.mkdir()
    drops = []
    service, prediction_log = _service(penguins_registry, flush_seconds=3600, on_drop=drops.append)
    make_read_only(monitoring)
    try:
        with caplog.at_level(logging.WARNING, logger="dsba.monitoring.prediction_log"):
            results = []
            for _ in range(3):
                results.append(service.predict_records("penguins", [PENGUIN], source="api"))
                prediction_log.flush()
    finally:
        make_writable(monitoring)
    prediction_log.flush()  # the writer finds the store writable again
    later = service.predict_records("penguins", [{**PENGUIN, "island": "Dream"}], source="api")
    prediction_log.close()

    assert all(r.labels for r in results) and prediction_log.dropped == 3 and drops == [1, 1, 1]
    # Once a write failed, rows are dropped on arrival: no id for a row that is not logged.
    assert results[0].ids is not None and [r.ids for r in results[1:]] == [None, None]
    warnings = [r for r in caplog.records if r.getMessage() == "prediction log rows dropped"]
    assert len(warnings) == 1  # rate-limited, not one per failed write
    assert read_log(penguins_registry, "penguins")["id"].tolist() == later.ids


def test_rows_buffered_at_a_normal_exit_are_written(penguins_registry):
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from dsba.config import Settings
        from dsba.monitoring.prediction_log import PredictionLog
        from dsba.service import LocalService
        root = Path({str(penguins_registry)!r})
        row = {PENGUIN!r}
        log = PredictionLog(root, flush_seconds=3600)
        service = LocalService(Settings(registry_dir=root), prediction_log=log)
        print(" ".join(service.predict_records("penguins", [row] * 5, source="api").ids))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )

    assert read_log(penguins_registry, "penguins")["id"].tolist() == done.stdout.split()


def test_a_forked_child_logs_its_own_rows_with_its_own_writer(penguins_registry):
    # What gunicorn does with preload_app: the log is made, and used, before the fork.
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from dsba.config import Settings
        from dsba.monitoring.prediction_log import PredictionLog
        from dsba.service import LocalService
        root = Path({str(penguins_registry)!r})
        row = {PENGUIN!r}
        log = PredictionLog(root, flush_seconds=3600)
        service = LocalService(Settings(registry_dir=root), prediction_log=log)
        parent = service.predict_records("penguins", [row] * 2, source="api").ids
        read, write = os.pipe()
        if os.fork() == 0:
            child = service.predict_records("penguins", [row] * 3, source="api").ids
            log.close()
            os.write(write, " ".join(child).encode())
            os._exit(0)
        os.wait()
        log.close()
        print(" ".join(parent), "|", os.read(read, 1 << 16).decode())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    parent, child = (part.split() for part in done.stdout.split("|"))
    files = sorted(layout.log_dir(penguins_registry, "penguins", 1).glob("*/*.parquet"))
    per_file = {f.name: pq.read_table(f)["id"].to_pylist() for f in files}

    assert sorted(per_file.values()) == sorted([parent, child])  # the parent's rows once
    assert len({name.rsplit("-", 1)[0] for name in per_file}) == 2  # two writers
    assert {i[10:22] for i in parent}.isdisjoint(i[10:22] for i in child)  # two id nodes


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DSBA_PREDICTION_LOG", "maybe"),
        ("DSBA_PREDICTION_LOG_SAMPLE", "1.5"),
        ("DSBA_PREDICTION_LOG_SAMPLE", "-0.1"),
        ("DSBA_PREDICTION_LOG_DAYS", "0"),
    ],
)
def test_bad_prediction_log_settings_are_refused(name, value):
    with pytest.raises(InvalidInput, match=name):
        Settings.from_env({name: value})


def test_prediction_log_settings_default_to_on_everything_for_90_days():
    settings = Settings.from_env({})
    off = Settings.from_env({"DSBA_PREDICTION_LOG": "off", "DSBA_PREDICTION_LOG_SAMPLE": "0.25"})

    assert (settings.prediction_log, settings.prediction_log_sample) == (True, 1.0)
    assert settings.prediction_log_days == 90
    assert (off.prediction_log, off.prediction_log_sample) == (False, 0.25)


def test_an_idle_writer_thread_ends_and_the_next_request_starts_another(
    penguins_registry, monkeypatch
):
    monkeypatch.setattr(prediction_log_module, "IDLE_SECONDS", 0.2)
    service, prediction_log = _service(penguins_registry, flush_seconds=0.05)
    first = service.predict_records("penguins", [PENGUIN], source="api")
    writer = prediction_log._thread
    writer.join(timeout=30)  # it ends by itself once idle

    assert not writer.is_alive() and prediction_log._thread is None
    second = service.predict_records("penguins", [PENGUIN], source="api")
    assert prediction_log._thread is not None
    prediction_log.close()
    assert read_log(penguins_registry, "penguins")["id"].tolist() == first.ids + second.ids


def test_a_lone_surrogate_in_one_request_costs_no_other_row(penguins_registry):
    # JSON can carry "\ud800", which UTF-8 cannot hold; it once failed the whole file.
    service, prediction_log = _service(penguins_registry, flush_seconds=3600)
    clean = service.predict_records("penguins", [PENGUIN], source="api")
    hostile = service.predict_records("penguins", [{**PENGUIN, "sex": "\ud800x"}], source="api")
    prediction_log.flush()

    assert prediction_log.dropped == 0
    logged = read_log(penguins_registry, "penguins").set_index("id")
    assert sorted(logged.index) == sorted(clean.ids + hostile.ids)
    assert logged.loc[hostile.ids[0], "feature:sex"] == "\ufffdx"
