"""Live metrics from feedback, the CBPE estimate, the export, and versions without a profile."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.errors import InvalidInput
from dsba.model.training import train_model
from dsba.monitoring import layout
from dsba.monitoring.reference import REFERENCE_FILE, bin_counts
from dsba.service import LocalService
from tests.logfiles import log_rows, write_feedback

# Two UTC days: per-day figures get two entries.
START = datetime(2026, 4, 1, 20, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)
SINCE, UNTIL = START, START + timedelta(days=2)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory):
    """A model on 4,000 synthetic rows; 2,000 held-out rows logged; their true labels."""
    x, y = make_classification(
        n_samples=6000, n_features=8, n_informative=5, flip_y=0.05, class_sep=0.8, random_state=3
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
    frame["label"] = np.where(y == 1, "yes", "no")
    train, holdout = train_test_split(frame, test_size=2000, random_state=0, stratify=y)
    root = tmp_path_factory.mktemp("perf")
    service = LocalService(Settings(registry_dir=root, train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, "synthetic.csv", "csv", 1)
    service.train(dataset, target="label", name="synth", params={"n_estimators": 200})
    model = service.registry.load("synth")
    logged = log_rows(root, model, holdout.drop(columns=["label"]), START, step=STEP)
    logged["truth"] = holdout["label"].to_numpy()
    return service, logged


def test_cbpe_estimate_lands_within_003_of_the_realised_accuracy(scored) -> None:
    service, logged = scored
    report = service.monitoring("synth", since=SINCE, until=UNTIL)
    assert json.loads(json.dumps(report, allow_nan=False)) == report  # plain JSON, no NaN
    realised = float(np.mean(logged["prediction"] == logged["truth"]))
    estimated = report["performance"]["estimated"]
    assert estimated["rows"] == len(logged)
    assert abs(estimated["accuracy"] - realised) <= 0.03, (estimated["accuracy"], realised)
    assert [day["period"] for day in estimated["per_day"]] == ["2026-04-01", "2026-04-02"]
    assert report["performance"]["test"]["ece"] < 0.05
    assert estimated["warning"] is None
    # Held-out rows of the training population: nothing drifts.
    assert report["status"] == "ok"
    assert not any(f["drifted"] for f in report["features"])
    histogram = report["prediction_drift"]["proba_histograms"]["yes"]
    assert sum(histogram["current"]) == pytest.approx(1) == sum(histogram["reference"])
    reference, current = np.asarray(histogram["reference"]), np.asarray(histogram["current"])
    assert np.abs(reference - current).max() < 0.05


def test_reader_bins_match_the_reference_binning_exactly(scored) -> None:
    service, logged = scored
    root = service.settings.registry_dir
    reference = service.reference("synth")
    assert reference == service.registry.load("synth:1").artifacts[REFERENCE_FILE]
    files = layout.log_files(root, "synth", 1, SINCE, UNTIL)
    values = pa.concat_tables([pq.read_table(f) for f in files])
    report = service.monitoring("synth", since=SINCE, until=UNTIL)
    by_name = {f["name"]: f for f in report["features"]}
    for profile in reference["features"]:
        column = values.column(f"feature:{profile['name']}").to_numpy()
        expected = bin_counts(column, profile["boundaries"]) / len(column)
        shares = by_name[profile["name"]]["histogram"]["current"]
        assert shares == pytest.approx(expected.tolist(), abs=1e-6), profile["name"]


def test_feedback_gives_the_live_accuracy_computed_from_the_export(scored) -> None:
    service, logged = scored
    root = service.settings.registry_dir
    sample = logged.iloc[::2]
    wrong = np.where(sample["truth"] == "yes", "no", "yes")
    # A first, wrong label for every id, then the right one: the latest received wins.
    write_feedback(root, "synth", list(sample["id"]), list(wrong), START + timedelta(days=1))
    write_feedback(root, "synth", list(sample["id"]), list(sample["truth"]), UNTIL)
    write_feedback(root, "synth", ["no-such-id"], ["yes"], UNTIL)
    write_feedback(root, "synth", [logged["id"].iloc[1]], ["maybe"], UNTIL)  # unknown label

    rows = service.predictions("synth", since=SINCE, until=UNTIL, limit=10_000, format="json")
    assert len(rows) == len(logged)
    with_labels = [row for row in rows if row["label"] is not None]
    known = [row for row in with_labels if row["label"] in ("yes", "no")]
    by_hand = sum(row["prediction"] == row["label"] for row in known) / len(known)

    live = service.monitoring("synth", since=SINCE, until=UNTIL)["performance"]["live"]
    assert live["rows"] == len(sample) == len(known)
    assert live["accuracy"] == pytest.approx(by_hand, abs=1e-6)
    assert np.sum(live["confusion"]) == len(sample)
    assert [day["period"] for day in live["per_day"]] == ["2026-04-01", "2026-04-02"]
    assert sum(day["rows"] for day in live["per_day"]) == len(sample)
    assert 0 < live["log_loss"] < 1 and 0 < live["f1_macro"] <= 1


def test_export_formats_carry_the_same_rows(scored) -> None:
    service, logged = scored
    data = service.predictions("synth", since=SINCE, until=UNTIL, limit=50, format="parquet")
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == 50
    assert {"id", "ts", "prediction", "proba:yes", "feature:x0", "label"} <= set(table.schema.names)
    assert table.column("id").to_pylist() == list(logged["id"].iloc[:50])
    csv = service.predictions("synth", since=SINCE, until=UNTIL, limit=3, format="csv")
    assert pd.read_csv(io.BytesIO(csv))["id"].tolist() == list(logged["id"].iloc[:3])
    with pytest.raises(InvalidInput, match="format"):
        service.predictions("synth", since=SINCE, until=UNTIL, limit=3, format="xml")
    with pytest.raises(InvalidInput, match="limit"):
        service.predictions("synth", since=SINCE, until=UNTIL, limit=0)
    with pytest.raises(InvalidInput, match="since must be before until"):
        service.monitoring("synth", since=UNTIL, until=SINCE)
    with pytest.raises(InvalidInput, match="ISO 8601"):
        service.monitoring("synth", since="yesterday")


def test_a_window_without_rows_is_no_data(scored) -> None:
    service, _ = scored
    report = service.monitoring("synth", since="2025-01-01", until="2025-01-02")
    assert report["status"] == "no_data"
    assert report["window"]["rows"] == 0
    assert report["features"] == [] and report["volume"] == []
    assert report["performance"]["test"]["accuracy"] > 0.5
    assert service.predictions("synth", since="2025-01-01", until="2025-01-02") == []


def test_a_version_without_reference_says_so(tmp_path: Path, penguins_frame) -> None:
    service = LocalService(Settings(registry_dir=tmp_path, train_threads=1))
    result = train_model(penguins_frame, "species", params={"n_estimators": 20}, threads=1)
    # As saved before monitoring existed: no reference.json among the artifacts.
    service.registry.save_version(
        "old", result.booster, result.schema.to_dict(), {"metrics": result.evaluation["metrics"]}
    )
    model = service.registry.load("old")
    assert service.reference("old") is None
    assert service.monitoring("old")["status"] == "no_data"
    log_rows(tmp_path, model, penguins_frame.head(20), START)
    report = service.monitoring("old", since=SINCE, until=UNTIL)
    assert report["status"] == "no_reference"
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert report["window"]["rows"] == 20
    assert report["volume"] == [{"period": START.isoformat(), "rows": 20}]
    assert "no reference profile" in report["notes"][0]
    assert report["performance"]["estimated"] is None


def test_a_file_compacted_away_between_listing_and_reading_is_read_again(
    scored, monkeypatch
) -> None:
    service, logged = scored
    listed = layout.log_files
    calls = []

    def first_listing_is_stale(*args):
        calls.append(args)
        files = listed(*args)
        # The first listing still names a small file a compaction has since deleted.
        return [*files, files[0].with_name("gone-1-0.parquet")] if len(calls) == 1 else files

    monkeypatch.setattr(layout, "log_files", first_listing_is_stale)
    report = service.monitoring("synth", since=SINCE, until=UNTIL)
    assert report["window"]["rows"] == len(logged)
    assert len(calls) == 2
