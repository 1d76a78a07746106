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
