"""Boolean and datetime features, and the writer's choices of types, read the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import palmerpenguins
import pyarrow.parquet as pq
import pytest

from dsba.monitoring import layout
from tests.dsba.test_monitoring_drift import trained
from tests.logfiles import log_rows

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def penguins_with_kinds():
    """Penguins plus a boolean column (some missing) and an ISO datetime column."""
    frame = palmerpenguins.load_penguins()
    rng = np.random.default_rng(5)
    heavy = frame["body_mass_g"] > 4000
    frame["heavy"] = heavy.astype(object).where(frame["body_mass_g"].notna(), None)
    days = rng.integers(0, 200, len(frame))
    frame["observed"] = [
        (datetime(int(y), 4, 1) + timedelta(days=int(d))).isoformat()
        for y, d in zip(frame["year"], days, strict=True)
    ]
    return frame


def test_boolean_and_datetime_features_are_profiled_and_read(
    tmp_path: Path, penguins_with_kinds
) -> None:
    service, holdout = trained(tmp_path, penguins_with_kinds, "species", "kinds")
    model = service.registry.load("kinds")
    kinds = {f["name"]: f["kind"] for f in model.schema["features"]}
    assert kinds["heavy"] == "boolean" and kinds["observed"] == "datetime"
    log_rows(tmp_path, model, holdout, T0)
    log_rows(tmp_path, model, holdout, T1, typed=True)
    files = layout.log_files(tmp_path, "kinds", 1, T1, T1 + HOUR)
    written = pq.read_schema(files[0])
    assert str(written.field("feature:heavy").type) == "bool"
    assert str(written.field("feature:observed").type) == "timestamp[us, tz=UTC]"

    plain = service.monitoring("kinds", since=T0, until=T0 + HOUR)
    typed = service.monitoring("kinds", since=T1, until=T1 + HOUR)
    assert plain["status"] == typed["status"] == "ok"
    for report in (plain, typed):
        by_name = {f["name"]: f for f in report["features"]}
        assert by_name["heavy"]["missing_rate"]["current"] == pytest.approx(
            holdout["heavy"].isna().mean(), abs=1e-6
        )
        # NaN written for a missing number counts as missing, as a null does.
        assert by_name["bill_length_mm"]["missing_rate"]["current"] == pytest.approx(
            holdout["bill_length_mm"].isna().mean(), abs=1e-6
        )
        assert by_name["observed"]["out_of_range_rate"] == 0.0
        assert not by_name["observed"]["drifted"]
    assert plain["features"] == typed["features"]


def test_the_reference_profile_describes_the_training_and_test_parts(
    tmp_path: Path, penguins_with_kinds
) -> None:
    service, _ = trained(tmp_path, penguins_with_kinds, "species", "profiled")
    metadata = service.metadata("profiled")
    reference = service.reference("profiled")
    train_rows = metadata["dataset"]["rows"]["train"] + metadata["dataset"]["rows"]["validation"]
    profiles = {p["name"]: p for p in reference["features"]}
    assert list(profiles) == metadata["features"]
    for profile in profiles.values():
        assert profile["rows"] == train_rows
        assert 0 <= profile["missing_rate"] < 0.1
        if profile["kind"] == "categorical":
            assert sum(profile["shares"]) + profile["other_share"] == pytest.approx(1)
        else:
            bounds = profile["boundaries"]
            assert bounds[0] < profile["min"] <= bounds[1]
            assert bounds == sorted(set(bounds)) and bounds[-1] == profile["max"]
            assert sum(profile["shares"]) == pytest.approx(1)
            assert len(profile["shares"]) == len(bounds) - 1 <= 20
    assert profiles["heavy"]["boundaries"][1:] == [0.0, 1.0]  # a bin per value
    assert profiles["island"]["categories"][0] == "Biscoe"
    assert sum(p["importance"] for p in profiles.values()) == pytest.approx(1, abs=1e-3)
    test_rows = metadata["dataset"]["rows"]["test"]
    assert sum(reference["calibration"]["count"]) == test_rows == reference["metrics"]["rows"]
    assert reference["metrics"]["accuracy"] == pytest.approx(metadata["metrics"]["accuracy"])
    assert reference["prediction"]["rows"] == test_rows + train_rows
    assert sum(reference["prediction"]["class_shares"]) == pytest.approx(1)
