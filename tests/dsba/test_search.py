"""The hyperparameter search: deterministic, never below the defaults, blind to the test part."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import Dataset, read_bytes
from dsba.data.schema import encode_target, infer_schema, prepare_features
from dsba.errors import InvalidInput
from dsba.jobrunner import JobReporter, JobStopped
from dsba.jobs.job_store import (
    ACTIVE,
    CANCELLED,
    CANCELLED_MESSAGE,
    SUCCEEDED,
    JobStore,
    start_job,
)
from dsba.model.params import validate_params
from dsba.model.pipeline import train_and_register
from dsba.model.prediction import predict_frame
from dsba.model.search_folds import Folds, fold_plan
from dsba.model.training import _split, booster_params, train_model
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService
from tests.imbalanced import imbalanced_cancer

# Few, short trials: the search's logic, not its quality, is under test here.
QUICK = {"n_estimators": 40}
SEARCH_KEYS = {
    "optimize",
    "direction",
    "time_budget",
    "trials",
    "validation",
    "seconds",
    "trials_done",
    "winner",
    "leaderboard",
}


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """The penguins table: multiclass, string categoricals, missing values."""
    return palmerpenguins.load_penguins()


def _search(frame: pd.DataFrame, target: str, **options):
    calls: list[dict] = []
    result = train_model(
        frame,
        target,
        threads=1,
        params=options.pop("params", QUICK),
        search_progress=calls.append,
        **options,
    )
    return result, calls


def test_a_trial_count_makes_the_search_deterministic(penguins):
    first, _ = _search(penguins, "species", trials=4, seed=3)
    again, _ = _search(penguins, "species", trials=4, seed=3)
    assert first.search["winner"] == again.search["winner"]
    assert [(r["trial"], r["params"], r["score"]) for r in first.search["leaderboard"]] == [
        (r["trial"], r["params"], r["score"]) for r in again.search["leaderboard"]
    ]
    assert first.booster.save_raw("ubj") == again.booster.save_raw("ubj")
    # Sampled trials differ from one another: the sampler did search.
    sampled = [r["params"] for r in first.search["leaderboard"] if r["trial"] > 2]
    assert len({tuple(sorted(p.items())) for p in sampled}) == len(sampled) >= 1


def test_the_winner_never_scores_below_the_defaults_trial(penguins):
    result, _ = _search(penguins, "species", trials=5, seed=1, optimize="log_loss")
    search = result.search
    defaults = next(r for r in search["leaderboard"] if r["trial"] == 1)
    assert defaults["params"] == {} and defaults["state"] == "complete"
    assert search["direction"] == "minimize"
    assert search["winner"]["score"] <= defaults["score"]
    assert search["leaderboard"][0]["score"] == search["winner"]["score"]

    regression = load_diabetes(as_frame=True).frame
    result, _ = _search(regression, "target", trials=4, seed=1, optimize="r2")
    defaults = next(r for r in result.search["leaderboard"] if r["trial"] == 1)
    assert result.search["direction"] == "maximize"
    assert result.search["winner"]["score"] >= defaults["score"]


def _test_rows(frame: pd.DataFrame, target: str, seed: int) -> np.ndarray:
    """Positions of the rows training holds out as its test part (the same split)."""
    schema = infer_schema(frame, target)
    y = encode_target(schema, frame[target])
    x, _ = prepare_features(schema, frame)
    _, x_test, _, _ = _split(x, y, 0.2, seed, "train/test")
    return x_test.index.to_numpy()


def _scrambled(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """frame with the numeric features of rows replaced by noise (labels kept)."""
    changed = frame.copy()
    numeric = [c for c in frame.columns if c != "diagnosis"]
    noise = np.random.default_rng(0).normal(1e3, 1e3, size=(len(rows), len(numeric)))
    changed.loc[rows, numeric] = noise
    return changed


def test_the_search_never_looks_at_the_test_part():
    frame = imbalanced_cancer(0, share=0.2)
    test_rows = _test_rows(frame, "diagnosis", seed=5)
    options = {"trials": 4, "seed": 5, "optimize": "roc_auc"}
    plain, _ = _search(frame, "diagnosis", **options)
    blind, _ = _search(_scrambled(frame, test_rows), "diagnosis", **options)
    assert blind.search["leaderboard"] == [
        {**row, "seconds": other["seconds"]}
        for row, other in zip(plain.search["leaderboard"], blind.search["leaderboard"], strict=True)
    ]
    assert plain.rows["train"] + plain.rows["test"] == len(frame)
    assert plain.rows["test"] == len(test_rows)
    # The same change to training rows does move the scores: the comparison can fail.
    train_rows = np.setdiff1d(np.arange(len(frame)), test_rows)[:60]
    seen, _ = _search(_scrambled(frame, train_rows), "diagnosis", **options)
    assert [r["score"] for r in seen.search["leaderboard"]] != [
        r["score"] for r in plain.search["leaderboard"]
    ]


def test_a_search_is_recorded_in_the_version_and_reported_per_trial(tmp_path, penguins):
    registry = ModelRegistry(tmp_path)
    settings = Settings.from_env({"DSBA_REGISTRY_DIR": str(tmp_path), "DSBA_TRAIN_THREADS": "1"})
    dataset = Dataset(frame=penguins, source="p.csv", format="csv", fingerprint="0" * 64, n_bytes=1)
    calls: list[dict] = []
    rounds: list[tuple[int, int]] = []
    meta = train_and_register(
        registry,
        dataset,
        name="penguins",
        target="species",
        settings=settings,
        params=QUICK,
        seed=2,
        optimize="balanced_accuracy",
        trials=4,
        search_progress=calls.append,
        progress=lambda done, total: rounds.append((done, total)),
    )
    search = meta["search"]
    assert set(search) == SEARCH_KEYS
    assert search["optimize"] == "balanced_accuracy" and search["direction"] == "maximize"
    assert search["trials"] == 4 and search["time_budget"] is None
    assert search["validation"] == "5-fold" and search["trials_done"] == 4
    assert set(search["winner"]) == {"trial", "candidate", "params", "score", "rounds"}
    board = search["leaderboard"]
    assert len(board) == 4 and {r["state"] for r in board} <= {"complete", "pruned", "failed"}
    assert set(board[0]) == {"trial", "candidate", "params", "score", "seconds", "state"}
    assert board[0]["trial"] == search["winner"]["trial"]
    complete = [r["score"] for r in board if r["state"] == "complete"]
    assert complete == sorted(complete, reverse=True)
    # Class weighting is searched for a balanced metric; the winner's params are all there.
    assert any("class_weight" in r["params"] for r in board)
    assert meta["params"]["n_estimators"] == search["winner"]["rounds"]
    assert meta["best_iteration"] == search["winner"]["rounds"] - 1
    assert meta["dataset"]["rows"]["validation"] == 0
    # One call per trial, then the refit's rounds.
    assert [c["trial"] for c in calls] == [1, 2, 3, 4]
    assert all(c["total"] == 4 and c["seconds_left"] is None for c in calls)
    assert all(c["metric"] == "balanced_accuracy" for c in calls)
    best = [c["best"] for c in calls]
    assert best == sorted(best) and best[-1] == search["winner"]["score"]
    assert rounds[-1] == (search["winner"]["rounds"], search["winner"]["rounds"])
    # The recorded params retrain without a search.
    again = train_model(penguins, "species", params=meta["params"], seed=2, threads=1)
    assert again.search is None and again.params == meta["params"]


def test_a_time_budget_reports_the_seconds_left(penguins):
    result, calls = _search(penguins, "species", time_budget=10, trials=2, seed=0)
    assert result.search["time_budget"] == 10 and result.search["trials"] == 2
    left = [c["seconds_left"] for c in calls]
    assert len(left) == 2 and all(isinstance(s, float) for s in left)
    assert left == sorted(left, reverse=True) and left[0] <= 10


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"time_budget": 5}, "time_budget"),
        ({"time_budget": 90_000}, "time_budget"),
        ({"time_budget": "soon"}, "time_budget"),
        ({"time_budget": True}, "time_budget"),
        ({"trials": 0}, "trials"),
        ({"trials": 2.5}, "trials"),
        ({"trials": 10_001}, "trials"),
        ({"trials": "many"}, "trials"),
    ],
)
def test_search_limits_are_checked_before_any_work(penguins, options, field):
    with pytest.raises(InvalidInput) as error:
        train_model(penguins, "species", **options)
    assert set(error.value.errors) == {field}
    assert field in error.value.message


def test_the_metric_must_fit_the_task(penguins):
    regression = load_diabetes(as_frame=True).frame
    with pytest.raises(InvalidInput, match="rmse, mae, r2 for a regression") as error:
        train_model(regression, "target", optimize="accuracy", trials=1)
    assert error.value.errors == {"optimize": "invalid"}
    with pytest.raises(InvalidInput, match="accuracy, balanced_accuracy, f1, log_loss, roc_auc"):
        train_model(penguins, "species", optimize="rmse", trials=1)
    with pytest.raises(InvalidInput, match="one of"):
        train_model(penguins, "species", optimize="speed")


def test_a_regression_searches_for_mae_with_its_objective_as_a_dimension():
    frame = load_diabetes(as_frame=True).frame
    result, calls = _search(frame, "target", trials=4, seed=2, optimize="mae")
    search = result.search
    assert search["optimize"] == "mae" and search["direction"] == "minimize"
    assert any("objective" in r["params"] for r in search["leaderboard"])
    assert result.params["objective"] in ("reg:squarederror", "reg:absoluteerror")
    # The calibration part stays out of the search, so intervals stay honest.
    assert result.rows["train"] + result.rows["calibration"] + result.rows["test"] == len(frame)
    assert result.intervals is not None and len(calls) == 4


def test_class_weight_is_a_classifier_parameter_that_changes_the_model():
    frame = imbalanced_cancer(1)
    plain = train_model(frame, "diagnosis", threads=1, params=QUICK)
    weighted = train_model(frame, "diagnosis", threads=1, params={**QUICK, "class_weight": 1})
    assert plain.params["class_weight"] == 0.0 and weighted.params["class_weight"] == 1.0
    assert plain.booster.save_raw("ubj") != weighted.booster.save_raw("ubj")
    regression = load_diabetes(as_frame=True).frame
    with pytest.raises(InvalidInput, match="unknown parameter 'class_weight'"):
        train_model(regression, "target", params={"class_weight": 1})


def test_training_without_a_search_never_imports_optuna(tmp_path):
    script = (
        "import sys, palmerpenguins\n"
        "from dsba.model.training import train_model\n"
        "result = train_model(palmerpenguins.load_penguins(), 'species', threads=1,"
        " params={'n_estimators': 5})\n"
        "assert result.search is None\n"
        "print('optuna' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_the_dask_path_refuses_a_search(tmp_path):
    pytest.importorskip("distributed")
    settings = Settings(registry_dir=tmp_path, dask_scheduler="tcp://127.0.0.1:9", dask_min_bytes=0)
    raw = imbalanced_cancer(0).to_csv(index=False).encode()
    profile = DatasetStore(tmp_path).save(read_bytes(raw, source="c.csv", filename="c.csv"))
    service = LocalService(settings)
    service.check_training(profile["id"], "rmse")
    message = "the Dask engine trains the given parameters without a search"
    for options, field in (({"time_budget": 60}, "time_budget"), ({"trials": 5}, "trials")):
        with pytest.raises(InvalidInput, match=message) as error:
            service.check_training(profile["id"], **options)
        assert set(error.value.errors) == {field}
        with pytest.raises(InvalidInput, match=message):
            service.train_stored(profile["id"], name="c", target="diagnosis", **options)
    with pytest.raises(InvalidInput, match="without class weights"):
        service.check_training(profile["id"], params={"class_weight": 1})


def test_a_job_carries_its_search_to_training_and_shows_its_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("DSBA_TRAIN_THREADS", "1")
    monkeypatch.setenv("DSBA_LOG_FORMAT", "text")
    settings = Settings(registry_dir=tmp_path / "registry", job_heartbeat_seconds=0.2)
    raw = palmerpenguins.load_penguins().to_csv(index=False).encode()
    info = DatasetStore(settings.registry_dir).save(read_bytes(raw, source="p.csv"))
    request = {
        "dataset_id": info["id"],
        "target": "species",
        "name": "penguins",
        "params": QUICK,
        "trials": 3,
        "optimize": "f1",
    }
    job = start_job(settings, request)
    assert job["progress"] == {
        "trial": 0,
        "total": 3,
        "seconds_left": None,
        "best": None,
        "metric": "f1",
    }
    store = JobStore(settings)
    deadline = time.monotonic() + 300
    while store.get(job["id"])["state"] in ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)
    done = store.get(job["id"])
    assert done["state"] == SUCCEEDED, done.get("error")
    meta = ModelRegistry(settings.registry_dir).get_metadata(done["model"])
    assert meta["search"]["trials_done"] == 3 and meta["search"]["optimize"] == "f1"
    rounds = meta["search"]["winner"]["rounds"]
    assert done["progress"] == {"round": rounds, "total": rounds}


def test_the_job_record_shows_the_search_dict_as_its_progress(tmp_path):
    settings = Settings(registry_dir=tmp_path)
    store = JobStore(settings)
    job = store.create({"target": "y", "name": "m", "time_budget": 60, "task": "regression"})
    assert job["progress"]["metric"] == "rmse" and job["progress"]["seconds_left"] == 60
    reporter = JobReporter(store, job, settings)
    shown = {"trial": 7, "total": None, "seconds_left": 12.5, "best": 0.91, "metric": "rmse"}
    reporter.search(shown)
    reporter.last_write = 0.0  # the next report is due: it writes the record
    reporter.search(shown)
    assert store.get(job["id"])["progress"] == shown
    # A cancel noticed by the heartbeat stops the search after the trial that was running.
    reporter.stop = JobStopped(CANCELLED, CANCELLED_MESSAGE)
    with pytest.raises(JobStopped):
        reporter.search(shown)


def test_the_linear_candidate_wins_on_a_mostly_linear_table_and_serves(tmp_path):
    frame = load_diabetes(as_frame=True).frame
    registry = ModelRegistry(tmp_path)
    settings = Settings.from_env({"DSBA_REGISTRY_DIR": str(tmp_path), "DSBA_TRAIN_THREADS": "1"})
    dataset = Dataset(frame=frame, source="d.csv", format="csv", fingerprint="0" * 64, n_bytes=1)
    meta = train_and_register(
        registry, dataset, name="diabetes", target="target", settings=settings, trials=3, seed=1
    )
    board = meta["search"]["leaderboard"]
    assert {r["candidate"] for r in board} == {"gbtree", "gblinear"}
    assert meta["search"]["winner"]["candidate"] == "gblinear"
    assert meta["params"]["booster"] == "gblinear"
    model = registry.load("diabetes")
    assert model.schema["linear"] is not None
    served = predict_frame(model, frame.drop(columns="target").head(5))
    assert np.isfinite(np.asarray(served.labels, dtype=float)).all() and len(served.labels) == 5


def test_a_booster_the_user_chose_keeps_the_search_to_it(penguins):
    result, _ = _search(penguins, "species", trials=3, params={**QUICK, "booster": "gbtree"})
    assert {r["candidate"] for r in result.search["leaderboard"]} == {"gbtree"}
    assert all("booster" not in r["params"] for r in result.search["leaderboard"])


def test_a_fold_cut_by_the_clock_reports_it_instead_of_failing(penguins):
    schema = infer_schema(penguins, "species")
    x, _ = prepare_features(schema, penguins)
    y = encode_target(schema, penguins["species"])
    rows, how = fold_plan(y, False, 0, 0.1)
    assert how == "5-fold" and len(rows) == 5
    folds = Folds(x, y, rows, threads=1, weighted=True)
    params = validate_params({"n_estimators": 50})
    native = booster_params(params, 3, 0, 1)
    # The deadline has passed: the first round stops it, before any best round is known.
    predicted, rounds, late = folds.fit(0, native, params, time.monotonic() - 1)
    assert late and rounds == 0
    predicted, rounds, late = folds.fit(0, native, params, None)
    assert not late and predicted.shape == (len(rows[0][1]), 3) and 1 <= rounds <= 50
