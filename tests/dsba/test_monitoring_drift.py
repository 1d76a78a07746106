"""Drift over the prediction log: held-out rows stay quiet, a shifted feature is flagged first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import palmerpenguins
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.service import LocalService
from tests.logfiles import log_rows

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def trained(root: Path, frame: pd.DataFrame, target: str, name: str, seed: int = 0):
    """Hold out 30% of frame (stratified); train name on the rest; return service and holdout."""
    train, holdout = train_test_split(
        frame, test_size=0.3, random_state=seed, stratify=frame[target]
    )
    service = LocalService(Settings(registry_dir=root, train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, f"{name}.csv", "csv", 1)
    service.train(dataset, target=target, name=name, params={"n_estimators": 60})
    return service, holdout.drop(columns=[target]).reset_index(drop=True)


def most_important_numeric(report: dict) -> str:
    numeric = [f for f in report["features"] if f["kind"] == "numeric"]
    return max(numeric, key=lambda f: f["importance"])["name"]


def check_clean_then_shifted(
    service: LocalService, name: str, holdout: pd.DataFrame, predictions_move: bool
) -> dict:
    """Held-out rows give ok and no drift; the same rows with one feature x3 flag it first."""
    root = service.settings.registry_dir
    model = service.registry.load(name)
    log_rows(root, model, holdout, T0, step=timedelta(seconds=5))
    clean = service.monitoring(name, since=T0, until=T0 + HOUR)
    assert clean["window"]["rows"] == len(holdout)
    assert clean["status"] == "ok", [f for f in clean["features"] if f["drifted"]]
    assert not any(f["drifted"] for f in clean["features"])
    assert clean["prediction_drift"]["drifted"] is False

    feature = most_important_numeric(clean)
    shifted = holdout.copy()
    shifted[feature] = shifted[feature] * 3
    log_rows(root, model, shifted, T1, step=timedelta(seconds=5))
    moved = service.monitoring(name, since=T1, until=T1 + HOUR)
    assert moved["status"] == "drift"
    assert moved["features"][0]["name"] == feature
    assert moved["features"][0]["drifted"] is True
    assert moved["features"][0]["out_of_range_rate"] > 0.1
    assert [f["name"] for f in moved["features"] if f["drifted"]] == [feature]
    assert moved["prediction_drift"]["score"] > clean["prediction_drift"]["score"]
    assert moved["prediction_drift"]["drifted"] is predictions_move
    return moved


def test_penguins_holdout_is_quiet_and_a_shifted_feature_drifts(tmp_path: Path) -> None:
    frame = palmerpenguins.load_penguins()
    service, holdout = trained(tmp_path, frame, "species", "penguins")
    assert len(holdout) >= service.settings.drift_min_rows
    moved = check_clean_then_shifted(service, "penguins", holdout, predictions_move=True)
    # bill_length_mm x3: Adelie (short bills) turn into Chinstrap, 16 points of share move.
    shares = dict(zip(moved["prediction_drift"]["classes"], moved["prediction_drift"]["current"]))
    assert shares["Chinstrap"] > 0.3


def test_breast_cancer_holdout_is_quiet_and_a_shifted_feature_drifts(tmp_path: Path) -> None:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "diagnosis"})
    service, holdout = trained(tmp_path, frame, "diagnosis", "cancer")
    moved = check_clean_then_shifted(service, "cancer", holdout, predictions_move=False)
    # Tripling "mean concave points" flips about 10 of 171 predictions: within the noise of a
    # window this size against the reference, so the predictions have not measurably moved.
    reference, current = (
        moved["prediction_drift"]["reference"],
        moved["prediction_drift"]["current"],
    )
    assert abs(reference[0] - current[0]) < 0.1


def test_hostile_feature_names_and_categories_are_read_safely(tmp_path: Path) -> None:
    frame = palmerpenguins.load_penguins()
    hostile = 'is"land; DROP TABLE x; --'
    frame = frame.rename(columns={"island": hostile, "bill_depth_mm": 'b"; DROP'})
    frame[hostile] = frame[hostile].replace({"Biscoe": 'Bis\'coe "north"'})
    service, holdout = trained(tmp_path, frame, "species", "hostile")
    model = service.registry.load("hostile")
    holdout.loc[:4, hostile] = "Torgersen'); DROP TABLE x; --"  # unseen, with a quote
    log_rows(tmp_path, model, holdout, T0)
    report = service.monitoring("hostile", since=T0, until=T0 + HOUR)
    by_name = {f["name"]: f for f in report["features"]}
    assert report["window"]["rows"] == len(holdout)
    assert by_name[hostile]["unseen_rate"] == pytest.approx(
        5 / holdout[hostile].notna().sum(), abs=1e-6
    )
    bins = by_name[hostile]["histogram"]["bins"]
    assert 'Bis\'coe "north"' in bins
    assert by_name['b"; DROP']["missing_rate"]["current"] == pytest.approx(
        holdout['b"; DROP'].isna().mean(), abs=1e-6
    )


def test_a_window_too_small_says_so_and_never_reports_drift(tmp_path: Path) -> None:
    service, holdout = trained(tmp_path, palmerpenguins.load_penguins(), "species", "small")
    model = service.registry.load("small")
    shifted = holdout.head(30).copy()
    shifted["flipper_length_mm"] *= 3
    log_rows(tmp_path, model, shifted, T0)
    report = service.monitoring("small", since=T0, until=T0 + HOUR)
    assert report["window"] == {
        "since": T0.isoformat(),
        "until": (T0 + HOUR).isoformat(),
        "rows": 30,
        "enough_rows": False,
    }
    assert report["status"] == "warning"
    assert any("too few" in note for note in report["notes"])
