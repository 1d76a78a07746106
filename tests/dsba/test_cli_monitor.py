"""dsba feedback reads CSV, Parquet and JSON lines with ids as text; dsba monitor prints a table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dsba.config import Settings
from dsba.monitoring.prediction_log import PredictionLog
from dsba.service import LocalService

PENGUIN = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5}
PENGUIN |= {"flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female", "year": 2008}


def _logged_ids(root, rows: int) -> list[str]:
    log = PredictionLog(root)
    service = LocalService(Settings(registry_dir=root), prediction_log=log)
    ids = service.predict_records("penguins", [PENGUIN] * rows, source="api").ids
    log.close()
    return ids


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_feedback_from_a_file_counts_each_row(penguins_registry, tmp_path, cli, suffix):
    ids = _logged_ids(penguins_registry, 3)
    frame = pd.DataFrame(
        {
            "pid": [*ids, "007", "01hf7yat00jhbs076n2s2n0000002a"],
            "truth": ["Gentoo", "Adelie", "Dodo", None, "Adelie"],
        }
    )
    path = tmp_path / f"labels{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)

    args = ["feedback", "penguins", str(path), "--id-column", "pid", "--label-column", "truth"]
    result = cli(penguins_registry, *args, "--json")

    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["accepted"] == 2 and answer["unmatched"] == 1
    # The id 007 stays text (read as a number it would be 7).
    assert [(e["index"], e["id"]) for e in answer["invalid"]] == [(2, ids[2]), (3, "007")]
    text = cli(penguins_registry, *args).stdout
    assert text.startswith("accepted 2, unmatched 1, invalid 2\n  row 3: label 'Dodo'")


def test_feedback_names_a_missing_column(penguins_registry, tmp_path, cli):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["x"], "label": ["Adelie"]}).to_csv(path, index=False)
    result = cli(penguins_registry, "feedback", "penguins", str(path), "--label-column", "truth")
    assert result.exit_code == 3
    assert "the file has no column 'truth' (its columns: id, label)" in result.stderr


def test_monitor_prints_the_status_and_the_window(penguins_registry, cli):
    _logged_ids(penguins_registry, 3)
    result = cli(penguins_registry, "monitor", "penguins")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "penguins:1  status: ok"  # 3 rows: too few to call drift
    assert lines[1].endswith(": 3 rows")
    assert (
        "too few to judge" in result.stdout and "prediction drift: jensenshannon" in result.stdout
    )
    assert "  test       accuracy " in result.stdout
    bad = cli(penguins_registry, "monitor", "penguins", "--since", "yesterday")
    assert bad.exit_code == 3 and "since must be an ISO 8601 time" in bad.stderr
