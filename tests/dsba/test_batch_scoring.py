"""Big files scored by a background job: in pieces, the same parsing as uploads, metrics."""

from __future__ import annotations

import io
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from passengers import FEATURES, passengers

from dsba.cli_jobs import job_line
from dsba.config import Settings
from dsba.data import chunks
from dsba.data.chunks import count_rows, read_chunks
from dsba.data.ingestion import parse_bytes
from dsba.data.limits import Limits
from dsba.errors import InvalidInput, TooLarge
from dsba.jobs.job_store import ACTIVE, SUCCEEDED, JobStore
from dsba.jobs.scoring import score_file, start_scoring
from dsba.jobs.scoring_files import ScoringFiles
from dsba.model import prediction
from dsba.service import LocalService

ROWS = 30_000
LIMITS = Limits(1_000_000, 100, 1 << 30)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store with 'titanic' trained on 600 passengers."""
    root = tmp_path_factory.mktemp("big")
    settings = Settings(registry_dir=root / "registry", train_threads=1, max_batch_rows=1000)
    passengers().to_csv(root / "train.csv", index=False)
    LocalService(settings).train(
        str(root / "train.csv"), target="survived", name="titanic", params={"n_estimators": 30}
    )
    return settings


def _wait(settings: Settings, job_id: str) -> dict:
    store = JobStore(settings)
    for _ in range(1200):
        job = store.get(job_id)
        if job["state"] not in ACTIVE:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job still {job['state']}: {job}")


def test_csv_pieces_split_between_rows_only(tmp_path, monkeypatch):
    """Quoted line ends stay inside their row, whatever block boundary falls there."""
    monkeypatch.setattr(chunks, "BLOCK_BYTES", 64)
    frame = pd.DataFrame(
        {
            "code": [f"00{i % 10}" for i in range(500)],
            "note": [f'a "q"\nline {i}' for i in range(500)],
        }
    )
    frame["x"] = [f"{i},5" for i in range(500)]
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False, sep=";")
    pieces = list(read_chunks(path, "csv", limits=LIMITS, chunk_rows=70))
    assert [len(piece) for piece in pieces] == [70] * 7 + [10]
    whole = pd.concat(pieces, ignore_index=True)
    # The same rules as one upload: codes stay text, decimal commas become numbers.
    expected, _ = parse_bytes(path.read_bytes(), filename="rows.csv", limits=LIMITS)
    pd.testing.assert_frame_equal(whole, expected)
    assert count_rows(path, "csv") == 500


def test_blank_lines_are_not_rows(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n\r\n3,4\r\n\r\n")
    assert count_rows(path, "csv") == 2
    assert len(pd.concat(read_chunks(path, "csv", limits=LIMITS))) == 2


def test_a_big_file_is_scored_in_pieces_with_metrics_and_feedback(settings, tmp_path, monkeypatch):
    data = passengers(rows=ROWS, seed=3)
    data.insert(0, "id", [f"{i:06d}" for i in range(ROWS)])
    path = tmp_path / "people.csv"
    data.to_csv(path, index=False)
    service = LocalService(settings)
    with open(path, "rb") as handle:
        job = start_scoring(service, "titanic", handle, "people.csv")
    assert job["progress"] == {"rows": 0, "total": 0}
    done = _wait(settings, job["id"])
    assert done["state"] == SUCCEEDED, done.get("error")
    assert done["progress"] == {"rows": ROWS, "total": ROWS}
    result = done["result"]
    assert result["rows"] == ROWS and sum(count for _, count in result["labels"]) == ROWS
    # Metrics from the target column, by the training's own functions.
    assert result["evaluated_rows"] == ROWS
    assert 0.6 < result["metrics"]["accuracy"] <= 1
    assert sum(map(sum, result["confusion_matrix"]["matrix"])) == ROWS
    # The rows were logged, and their true labels became feedback for monitoring.
    assert result["feedback"] == {"accepted": ROWS, "unmatched": 0, "invalid": 0}
    live = LocalService(settings).monitoring("titanic")["performance"]["live"]
    assert live["rows"] == ROWS
    assert live["accuracy"] == pytest.approx(result["metrics"]["accuracy"], abs=1e-4)
    scored = pd.read_csv(ScoringFiles(settings.registry_dir).scored(job["request"]["input"]))
    assert len(scored) == ROWS
    assert list(scored.columns[:2]) == ["prediction_id", "id"]
    assert scored["id"].astype(str).str.zfill(6).tolist() == data["id"].tolist()
    assert {"prediction", "probability_yes", "unseen_features"} <= set(scored.columns)
    assert "top_feature_1" not in scored.columns
    assert (
        not ScoringFiles(settings.registry_dir).input_path(job["request"]["input"], "csv").exists()
    )


def test_pieces_bound_the_frames_scored(settings, tmp_path, monkeypatch):
    """Parquet by batches: no frame holds the whole file; per-row explanations on request."""
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 1000)
    sizes: list[int] = []
    real = prediction.predict_frame

    def counting(model, frame, **options):
        sizes.append(len(frame))
        return real(model, frame, **options)

    monkeypatch.setattr("dsba.service.predict_frame", counting)
    rows = 6000
    data = passengers(rows=rows, seed=4)
    path = tmp_path / "people.parquet"
    data.to_parquet(path, row_group_size=2500)

    service = LocalService(settings)
    with open(path, "rb") as handle:
        token, fmt = ScoringFiles(settings.registry_dir).stage(handle, "p.parquet", 1 << 30)
    seen = []
    request = {"model": "titanic", "input": token, "format": fmt, "explain": True}
    result = score_file(service, request, lambda done, total: seen.append((done, total)))
    assert result["rows"] == rows and sum(sizes) == rows
    assert max(sizes) == 1000 and len(sizes) == 6
    assert seen[0] == (0, rows) and seen[-1] == (rows, rows) and len(seen) == 7
    assert result["metrics"]["accuracy"] > 0.6 and "feedback" not in result  # no log here
    scored = pd.read_csv(ScoringFiles(settings.registry_dir).scored(token))
    assert len(scored) == rows
    assert set(scored["top_feature_1"]) <= set(FEATURES)
    assert (scored["top_contribution_1"].abs() >= scored["top_contribution_3"].abs()).all()


@pytest.mark.parametrize(
    ("body", "name", "error", "words"),
    [
        (b"", "empty.csv", InvalidInput, "empty"),
        (b"pclass,sex\n", "head.csv", InvalidInput, "no data rows"),
        (bytes(range(256)) * 64, "blob.csv", InvalidInput, "binary"),
        (b"colour,size\nred,2\n", "other.csv", InvalidInput, "missing feature columns"),
        (b'[{"a": 1}]', "list.json", InvalidInput, "JSON lines"),
    ],
)
def test_bad_files_are_refused_before_a_job(settings, body, name, error, words):
    service = LocalService(settings)
    folder = ScoringFiles(settings.registry_dir).folder
    before = (len(JobStore(settings).list()), set(folder.glob("*")))
    with pytest.raises(error, match=words):
        start_scoring(service, "titanic", io.BytesIO(body), name)
    assert (len(JobStore(settings).list()), set(folder.glob("*"))) == before


def test_a_file_over_the_upload_limit_is_refused(settings, tmp_path):
    small = Settings(registry_dir=settings.registry_dir, max_upload_bytes=1000)
    with pytest.raises(TooLarge, match="1,000 bytes"):
        start_scoring(LocalService(small), "titanic", io.BytesIO(b"a,b\n" * 1000), "x.csv")


def test_utf16_files_are_staged_as_utf8(settings, tmp_path):
    text = passengers(rows=50)[FEATURES].to_csv(index=False)
    files = ScoringFiles(settings.registry_dir)
    token, fmt = files.stage(io.BytesIO(text.encode("utf-16")), "p.csv", 1 << 20)
    frame = pd.concat(read_chunks(files.input_path(token, fmt), fmt, limits=LIMITS))
    assert len(frame) == 50 and list(frame.columns) == FEATURES


def test_dsba_jobs_lists_a_scoring_job_by_its_rows():
    job = {
        "id": "a" * 32,
        "state": "running",
        "request": {"kind": "score", "name": "titanic", "model": "titanic:1"},
        "progress": {"rows": 10_000, "total": 200_000},
    }
    assert "rows 10000/200000" in job_line(job)
    done = {**job, "state": "succeeded", "model": "titanic:1"}
    done["request"] = {**job["request"], "filename": "people.csv"}
    assert job_line(done).endswith("scored people.csv with titanic:1")


def test_a_parquet_bomb_is_refused_before_a_job(settings, tmp_path):
    """One 60,000-character string on 20,000 rows: a few KB stored, 1.2 GB decoded."""
    path = tmp_path / "bomb.parquet"
    table = pa.table({"pclass": pa.array(["x" * 60_000] * 20_000).dictionary_encode()})
    pq.write_table(table, path, use_dictionary=True, compression="zstd")
    assert path.stat().st_size < 100_000
    small = Settings(registry_dir=settings.registry_dir, max_upload_bytes=1 << 20)
    with open(path, "rb") as handle, pytest.raises(TooLarge, match="once decoded"):
        start_scoring(LocalService(small), "titanic", handle, "bomb.parquet")


def test_a_regression_file_gets_values_intervals_and_its_error(tmp_path, penguins_csv):
    """A regressor's scoring job: value summary, interval columns, RMSE on the file's target."""
    settings = Settings(registry_dir=tmp_path / "registry", train_threads=1, max_batch_rows=100)
    service = LocalService(settings)
    service.train(str(penguins_csv), target="body_mass_g", name="mass", params={"n_estimators": 30})
    frame = pd.read_csv(penguins_csv)
    path = tmp_path / "penguins.csv"
    frame.to_csv(path, index=False)
    with open(path, "rb") as handle:
        job = start_scoring(service, "mass", handle, "penguins.csv")
    done = _wait(settings, job["id"])
    assert done["state"] == SUCCEEDED, done.get("error")
    result = done["result"]
    values = result["value_summary"]
    assert result["labels"] == [] and values["min"] < values["max"]
    assert sum(b["count"] for b in result["value_summary"]["bins"]) == len(frame)
    known = frame["body_mass_g"].notna()
    assert result["evaluated_rows"] == int(known.sum())
    assert result["unlabelled_rows"] == int((~known).sum())
    scored = pd.read_csv(ScoringFiles(settings.registry_dir).scored(job["request"]["input"]))
    truth, value = scored["body_mass_g"][known], scored["prediction"][known]
    rmse = float(((truth - value) ** 2).mean() ** 0.5)
    assert result["metrics"]["rmse"] == pytest.approx(rmse, rel=1e-4)
    inside = (truth >= scored["prediction_lower"][known]) & (
        truth <= scored["prediction_upper"][known]
    )
    assert result["metrics"]["interval_coverage"] == pytest.approx(inside.mean(), abs=1e-6)
