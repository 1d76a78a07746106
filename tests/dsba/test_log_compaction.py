"""Compaction of finished log days and retention, against racing compactors and readers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dsba.config import Settings
from dsba.monitoring import compaction, layout, prediction_log
from dsba.monitoring.prediction_log import PredictionLog
from dsba.service import LocalService

REPO_ROOT = Path(__file__).resolve().parents[2]
PENGUIN = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5}
PENGUIN |= {"flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female", "year": 2008}


def _small_files(root: Path, files: int, rows: int = 3) -> tuple[Path, list[str]]:
    """Log files rows at a time into today's folder; return it and the ids logged."""
    log = PredictionLog(root, flush_seconds=3600)
    service = LocalService(Settings(registry_dir=root), prediction_log=log)
    ids = []
    for _ in range(files):
        ids += service.predict_records("penguins", [PENGUIN] * rows, source="api").ids
        log.flush()
    log.close()
    today = datetime.now(UTC).date()
    return layout.log_dir(root, "penguins", 1) / layout.day_name(today), ids


def _past_day(day_dir: Path, days_ago: int) -> Path:
    past = datetime.now(UTC).date() - timedelta(days=days_ago)
    target = day_dir.with_name(layout.day_name(past))
    day_dir.rename(target)
    return target


def read_ids(day_dir: Path) -> list[str]:
    """The ids of a day as a reader sees them (retrying when a compaction deletes a file)."""
    while True:
        try:
            return [
                i
                for f in layout.live_files(day_dir)
                for i in pq.read_table(f, columns=["id"])["id"].to_pylist()
            ]
        except FileNotFoundError:
            continue


COMPACTOR = """
import sys, time
from pathlib import Path
from dsba.monitoring.compaction import compact_day
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print(compact_day(Path(sys.argv[1]), rows_per_file=int(sys.argv[3])))
"""


def test_racing_compactors_and_a_reader_see_every_row_exactly_once(penguins_registry, tmp_path):
    day_dir, ids = _small_files(penguins_registry, 150)
    day_dir = _past_day(day_dir, 1)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    compactors = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(COMPACTOR), str(day_dir), str(go), "100"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.0)  # both interpreters up and waiting (they poll for the file)
    go.touch()
    reads = 0
    while any(p.poll() is None for p in compactors) or reads == 0:
        assert sorted(read_ids(day_dir)) == sorted(ids)
        reads += 1
    outcomes = sorted(p.communicate()[0].strip() for p in compactors)

    assert [p.returncode for p in compactors] == [0, 0]
    assert outcomes == ["False", "True"]  # one compacted, the other found nothing left to do
    live = layout.live_files(day_dir)
    assert len(live) == 5 and all(f.name.startswith(layout.COMPACT_PREFIX) for f in live)
    assert read_ids(day_dir) == ids  # in the order they were logged
    assert sorted(p.name for p in day_dir.glob("*.parquet")) == sorted(f.name for f in live)


def test_a_compaction_killed_midway_is_finished_by_the_next(penguins_registry):
    day_dir, ids = _small_files(penguins_registry, 4)
    day_dir = _past_day(day_dir, 2)
    replaced = sorted(day_dir.glob("*.parquet"))
    kept = {p.name: p.read_bytes() for p in replaced}
    assert compaction.compact_day(day_dir)
    # As if killed before its deletions: the replaced files are back, with an unnamed
    # compact file of a compactor killed even earlier.
    for name, data in kept.items():
        (day_dir / name).write_bytes(data)
    (day_dir / f"{layout.COMPACT_PREFIX}orphan{layout.SUFFIX}").write_bytes(
        next(iter(kept.values()))
    )
    assert sorted(read_ids(day_dir)) == sorted(ids)
    late_dir, late_ids = _small_files(penguins_registry, 2)
    for path in late_dir.iterdir():
        path.rename(day_dir / path.name)  # rows of that day a late writer flushed

    assert compaction.compact_day(day_dir)

    assert sorted(read_ids(day_dir)) == sorted(ids + late_ids)
    names = {p.name for p in day_dir.glob("*.parquet")}
    assert names == {p.name for p in layout.live_files(day_dir)}
    assert len(names) == 2
    manifest = layout.read_manifest(day_dir)
    assert len(manifest["replaced"]) == 2  # only this round's: the list does not grow forever


def test_retention_deletes_day_folders_older_than_the_setting(penguins_registry):
    folder = layout.log_dir(penguins_registry, "penguins", 1)
    today = datetime.now(UTC).date()
    ages = [0, 5, 90, 91, 400]
    for age in ages:
        (folder / layout.day_name(today - timedelta(days=age))).mkdir(parents=True)
    feedback = layout.feedback_dir(penguins_registry, "penguins")
    (feedback / layout.day_name(today - timedelta(days=100))).mkdir(parents=True)

    assert compaction.drop_expired(penguins_registry, "penguins", today, keep_days=90) == 3

    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(layout.day_name(today - timedelta(days=a)) for a in (0, 5, 90))
    assert list(feedback.iterdir()) == []


def test_a_writer_compacts_finished_days_and_drops_expired_ones(penguins_registry, monkeypatch):
    monkeypatch.setattr(prediction_log, "FINISHED_AFTER_SECONDS", 0.0)
    day_dir, ids = _small_files(penguins_registry, 3)
    yesterday = _past_day(day_dir, 1)
    ancient = layout.log_dir(penguins_registry, "penguins", 1) / "2000-01-01"
    ancient.mkdir()
    log = PredictionLog(penguins_registry, keep_days=30)
    service = LocalService(Settings(registry_dir=penguins_registry), prediction_log=log)

    service.predict_records("penguins", [PENGUIN], source="api")
    log.close()

    assert [f.name[: len(layout.COMPACT_PREFIX)] for f in layout.live_files(yesterday)] == [
        layout.COMPACT_PREFIX
    ]
    assert read_ids(yesterday) == ids
    assert not ancient.exists()


@pytest.mark.parametrize("files", [0, 1])
def test_a_day_with_fewer_than_two_small_files_is_left_alone(penguins_registry, files):
    folder = layout.log_dir(penguins_registry, "penguins", 1) / "2020-01-01"
    if files:
        day_dir, _ = _small_files(penguins_registry, files)
        day_dir.rename(folder)

    assert compaction.compact_day(folder) is False
    assert not (folder / layout.MANIFEST).exists()


@pytest.mark.parametrize("at_read", [1, 2])
def test_a_reader_listing_while_a_compaction_lands_sees_every_row_once(
    penguins_registry, monkeypatch, at_read
):
    day_dir, ids = _small_files(penguins_registry, 3)
    day_dir = _past_day(day_dir, 1)
    real_read = layout.read_manifest
    reads = []

    def read_manifest(folder):
        # A whole compaction lands just before a given read of the manifest.
        reads.append(folder)
        if len(reads) == at_read:
            assert compaction.compact_day(folder)
        return real_read(folder)

    monkeypatch.setattr(layout, "read_manifest", read_manifest)
    files = layout.live_files(day_dir)
    monkeypatch.undo()

    assert sorted(i for f in files for i in pq.read_table(f)["id"].to_pylist()) == sorted(ids)
