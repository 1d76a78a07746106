"""Monitoring of regression models, with real models on real data (diabetes, penguins' mass).

Rows go through LocalService into the real prediction log; the report, the export and the
feedback read them back: the value and its interval are logged, the value drifts as a
number does, and numeric feedback gives the live RMSE, MAE, R² and coverage that the
exported rows give by hand.
"""

from __future__ import annotations

import io
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import palmerpenguins
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn import metrics
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from dsba.cli_monitor import report_text
from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.errors import InvalidInput
from dsba.monitoring import layout
from dsba.monitoring.prediction_log import PredictionLog
from dsba.service import LocalService

N_ESTIMATORS = 60


def _train(
    root: Path, frame: pd.DataFrame, target: str, name: str
) -> tuple[LocalService, pd.DataFrame]:
    """Hold out 30% of frame; train a regression model on the rest; return service and holdout."""
    train, holdout = train_test_split(frame, test_size=0.3, random_state=0)
    service = LocalService(Settings(registry_dir=root, train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, f"{name}.csv", "csv", 1)
    service.train(
        dataset, target=target, name=name, params={"n_estimators": N_ESTIMATORS}, task="regression"
    )
    service.prediction_log = PredictionLog(root)
    return service, holdout.reset_index(drop=True)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalService, pd.DataFrame]:
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    return _train(tmp_path_factory.mktemp("diabetes"), frame, "progression", "diabetes")


@pytest.fixture(scope="module")
def mass(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalService, pd.DataFrame]:
    frame = palmerpenguins.load_penguins().dropna(subset=["body_mass_g"])
    return _train(tmp_path_factory.mktemp("mass"), frame, "body_mass_g", "mass")


def _score(service: LocalService, name: str, frame: pd.DataFrame) -> tuple[list[str], datetime]:
    """Score frame as the API does (logged), write the log; return the ids and the time before."""
    since = datetime.now(UTC)
    result = service.predict_frame(name, frame, source="api")
    service.prediction_log.flush()
    assert result.ids is not None and len(result.ids) == len(frame)
    return result.ids, since


def _window_of(service: LocalService, name: str, frame: pd.DataFrame) -> tuple[list[str], dict]:
    ids, since = _score(service, name, frame)
    report = service.monitoring(name, since=since, until=datetime.now(UTC) + timedelta(seconds=1))
    return ids, report


def _clean_then_shifted(service, name, holdout, target, shift, predictions_move):
    """Held-out rows are ok; shift(column) of the most important number flags it first."""
    features = holdout.drop(columns=[target])
    _, clean = _window_of(service, name, features)
    assert clean["task"] == "regression"
    assert clean["window"]["rows"] == len(features) >= service.settings.drift_min_rows
    assert clean["status"] == "ok", [f for f in clean["features"] if f["drifted"]]
    assert clean["prediction_drift"]["method"] == "wasserstein_normed"
    assert clean["prediction_drift"]["drifted"] is False
    numeric = [f for f in clean["features"] if f["kind"] == "numeric"]
    feature = max(numeric, key=lambda f: f["importance"])["name"]
    shifted = features.copy()
    shifted[feature] = shift(shifted[feature])
    _, moved = _window_of(service, name, shifted)
    assert moved["status"] == "drift"
    assert moved["features"][0]["name"] == feature and moved["features"][0]["drifted"]
    assert [f["name"] for f in moved["features"] if f["drifted"]] == [feature]
    assert moved["prediction_drift"]["drifted"] is predictions_move
    return clean, moved


def test_diabetes_holdout_is_quiet_and_a_shifted_feature_moves_the_values(diabetes) -> None:
    service, holdout = diabetes
    # bmi (scaled, centred on 0) one standard deviation up: heavier patients, higher values.
    up = holdout["bmi"].std()
    clean, moved = _clean_then_shifted(
        service, "diabetes", holdout, "progression", lambda x: x + up, predictions_move=True
    )
    assert moved["prediction_drift"]["score"] > 3 * clean["prediction_drift"]["score"]
    # No estimate is made up: the report says plainly there is none.
    assert clean["performance"]["estimated"] is None
    assert any("no performance estimate exists" in note for note in clean["notes"])
    test = clean["performance"]["test"]
    assert test["rmse"] > 0 and test["interval_nominal"] == pytest.approx(0.9)
    assert 0.7 <= test["interval_coverage"] <= 1.0
    histogram = clean["prediction_drift"]["histogram"]
    assert len(histogram["reference"]) == len(histogram["current"]) == len(histogram["bins"])


def test_diabetes_feature_times_three_is_flagged_though_the_values_barely_move(diabetes) -> None:
    # bmi x3 spreads a centred feature both ways: the trees' values stay in their range.
    service, holdout = diabetes
    _clean_then_shifted(
        service, "diabetes", holdout, "progression", lambda x: x * 3, predictions_move=False
    )


def test_penguin_mass_with_categories_drifts_on_the_shifted_feature(mass) -> None:
    service, holdout = mass
    # Flippers three times as long read as heavier penguins: the values move.
    clean, moved = _clean_then_shifted(
        service, "mass", holdout, "body_mass_g", lambda x: x * 3, predictions_move=True
    )
    kinds = {f["name"]: f["kind"] for f in clean["features"]}
    assert kinds["species"] == "categorical" and kinds["flipper_length_mm"] == "numeric"
    assert moved["prediction_drift"]["score"] > 2 * clean["prediction_drift"]["score"]


def test_the_log_holds_values_and_intervals_and_no_probabilities(diabetes) -> None:
    service, holdout = diabetes
    features = holdout.drop(columns=["progression"])
    ids, since = _score(service, "diabetes", features.iloc[:25])
    exported = service.predictions("diabetes", since, None, limit=1000, format="parquet")
    table = pq.read_table(io.BytesIO(exported))
    assert not [c for c in table.column_names if c.startswith(layout.PROBA_PREFIX)]
    frame = table.to_pandas()
    assert frame["id"].tolist() == ids
    for column in ("prediction", "prediction_lower", "prediction_upper"):
        assert frame[column].dtype == np.float64
    direct = service.predict_frame("diabetes", features.iloc[:25])
    np.testing.assert_allclose(frame["prediction"], np.asarray(direct.labels, np.float64))
    np.testing.assert_allclose(frame[["prediction_lower", "prediction_upper"]], direct.intervals)
    assert (frame["prediction_lower"] <= frame["prediction"]).all()
    assert (frame["prediction"] <= frame["prediction_upper"]).all()


def test_numeric_feedback_gives_the_live_error_counted_by_hand(diabetes) -> None:
    service, holdout = diabetes
    features, truth = holdout.drop(columns=["progression"]), holdout["progression"]
    ids, since = _score(service, "diabetes", features)
    until = datetime.now(UTC) + timedelta(seconds=1)
    # Numbers as JSON numbers, as text (a CSV's cells), and an integer: all are values.
    items = [
        {"id": i, "label": float(y) if n % 3 else (str(y) if n % 2 else int(y))}
        for n, (i, y) in enumerate(zip(ids, truth, strict=True))
    ]
    answer = service.feedback("diabetes", items)
    assert answer == {"accepted": len(ids), "unmatched": 0, "invalid": []}

    rows = pd.read_csv(
        io.BytesIO(service.predictions("diabetes", since, until, limit=1000, format="csv"))
    )
    assert pd.api.types.is_numeric_dtype(rows["label"]) and rows["label"].notna().all()
    y, p = rows["label"].to_numpy(), rows["prediction"].to_numpy()
    live = service.monitoring("diabetes", since=since, until=until)["performance"]["live"]
    assert live["rows"] == len(ids)
    assert live["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y, p)), rel=1e-6)
    assert live["mae"] == pytest.approx(metrics.mean_absolute_error(y, p), rel=1e-6)
    assert live["r2"] == pytest.approx(metrics.r2_score(y, p), rel=1e-6)
    inside = (rows["prediction_lower"] <= y) & (y <= rows["prediction_upper"])
    assert live["interval_coverage"] == pytest.approx(inside.mean(), abs=1e-6)
    assert [d["rows"] for d in live["per_day"]] == [len(ids)]
    text = report_text(service.monitoring("diabetes", since=since, until=until))
    assert f"rmse {live['rmse']:.3f}" in text and "no label-free estimate" in text


def test_a_text_label_for_a_regression_prediction_is_refused_naming_its_id(diabetes) -> None:
    service, holdout = diabetes
    ids, _ = _score(service, "diabetes", holdout.drop(columns=["progression"]).iloc[:3])
    # A classifier in the same store: a request without a model mixes both models' ids.
    penguins = palmerpenguins.load_penguins()
    dataset = Dataset(penguins, "1" * 64, "penguins.csv", "csv", 1)
    service.train(dataset, target="species", name="penguins", params={"n_estimators": 10})
    species_ids, _ = _score(service, "penguins", penguins.drop(columns=["species"]).head(2))
    root = service.settings.registry_dir
    stored = lambda: sorted((root / layout.MONITORING_DIR).rglob("feedback/*/*.parquet"))  # noqa: E731
    before = stored()
    items = [{"id": ids[0], "label": 120.5}, {"id": ids[1], "label": "high"}]
    mixed = [{"id": species_ids[0], "label": "Adelie"}, *items]
    # The refusal names the item by its place in the request that was sent.
    for model, sent, place in (("diabetes", items, 1), (None, items, 1), (None, mixed, 2)):
        with pytest.raises(InvalidInput) as refused:
            service.feedback(model, sent)
        assert ids[1] in refused.value.message and "not a number" in refused.value.message
        assert refused.value.errors["feedback"] == [
            {"index": place, "id": ids[1], "reason": refused.value.errors["feedback"][0]["reason"]}
        ]
    for label in (True, "inf", "NaN", "12 kg"):
        with pytest.raises(InvalidInput):
            service.feedback("diabetes", [{"id": ids[2], "label": label}])
    # Refused requests store nothing, not even their good items, of either model.
    assert stored() == before
    # The classifier's labels are checked as before: an unknown class is counted, not refused.
    answer = service.feedback(None, [{"id": species_ids[1], "label": 7.5}, mixed[0]])
    assert answer["accepted"] == 1 and answer["invalid"][0]["index"] == 0


def _write_rows(root: str, name: str, rows: list[dict]) -> int:
    """One writer process: score rows one request at a time through its own prediction log."""
    service = LocalService(Settings(registry_dir=Path(root)))
    service.prediction_log = PredictionLog(Path(root), flush_seconds=0.05)
    for record in rows:
        service.predict_records(name, [record], source="api")
    service.prediction_log.close()
    return len(rows)


def test_several_writer_processes_log_every_regression_row_once(diabetes) -> None:
    service, holdout = diabetes
    records = holdout.drop(columns=["progression"]).iloc[:60].to_dict(orient="records")
    root = str(service.settings.registry_dir)
    since = datetime.now(UTC)
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        written = pool.starmap(_write_rows, [(root, "diabetes", records[k::3]) for k in range(3)])
    until = datetime.now(UTC) + timedelta(seconds=1)
    assert sum(written) == 60
    exported = service.predictions("diabetes", since, until, limit=1000, format="json")
    assert len(exported) == 60 == len({row["id"] for row in exported})
    folder = layout.log_dir(service.settings.registry_dir, "diabetes", 1)
    writers = {p.name.rsplit("-", 1)[0] for p in folder.rglob("*.parquet")}
    assert len(writers) >= 3  # each process wrote its own files
    assert service.monitoring("diabetes", since=since, until=until)["window"]["rows"] == 60


@pytest.mark.slow
def test_a_regression_trained_on_dask_is_monitored_as_one_trained_locally(
    dask_cluster, tmp_path
) -> None:
    from dsba.model.dask_training import connect, train_model_dask
    from dsba.model.pipeline import register_result

    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    train, holdout = train_test_split(frame, test_size=0.3, random_state=0)
    path = tmp_path / "train.parquet"
    train.to_parquet(path, index=False)
    with connect(dask_cluster.scheduler_address) as client:
        result, _ = train_model_dask(client, path, "progression", params={"n_estimators": 60})
    assert result.reference is not None and result.reference["task"] == "regression"
    assert result.reference["prediction"]["count"] == result.rows["test"]
    assert result.reference["features"][0]["count"] == result.rows["labelled"] - result.rows["test"]
    root = tmp_path / "registry"
    service = LocalService(Settings(registry_dir=root))
    dataset = Dataset(train, "0" * 64, "train.parquet", "parquet", 1)
    register_result(
        service.registry, "dask", result, dataset, test_size=0.2, seed=42, ran_on="dask"
    )
    service.prediction_log = PredictionLog(root)
    report = _window_of(service, "dask", holdout.drop(columns=["progression"]))[1]
    assert report["status"] == "ok" and report["window"]["rows"] == len(holdout)
    assert report["prediction_drift"]["score"] is not None
    assert report["performance"]["test"]["rmse"] == pytest.approx(
        result.evaluation["metrics"]["rmse"], rel=1e-6
    )


def test_dsba_predict_log_writes_values_and_bounds_like_the_scored_file(diabetes, cli, tmp_path):
    service, holdout = diabetes
    source, out = tmp_path / "rows.csv", tmp_path / "scored.csv"
    holdout.drop(columns=["progression"]).head(9).to_csv(source, index=False)
    since = datetime.now(UTC)
    root = service.settings.registry_dir
    result = cli(root, "predict", "diabetes", str(source), "-o", str(out), "--log")
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(out)
    logged = pd.DataFrame(service.predictions("diabetes", since, None, limit=1000))
    assert logged["id"].tolist() == scored["id"].tolist()
    assert set(logged["source"]) == {"cli"}
    for column in ("prediction", "prediction_lower", "prediction_upper"):
        np.testing.assert_allclose(logged[column], scored[column], rtol=1e-6)
