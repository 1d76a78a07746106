"""Codes stay text and decimal commas are numbers in every upload: API, MLflow CSV, UI."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from passengers import KNOWN_WOMAN, MISSPELT_WOMAN, passengers
from typed_files import codes_frame, decimal_comma_csv

from dsba.cli import main
from dsba.config import Settings
from dsba.data.ingestion import Dataset, read_bytes
from dsba.service import LocalService
from webapp import create_app

# Digits only: read by their look, 007 and 008 are numbers, and 5 beside a blank cell is 5.0.
SCORE_CSV = "code,noise\n007,0.1\n008,0.2\n5,0.3\n,0.4\n"
EXPECTED = ["a", "b", "c"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """An app over a store holding "codes", trained from a CSV whose code decides the label."""
    settings = Settings(
        registry_dir=tmp_path_factory.mktemp("file-types") / "registry", train_threads=1
    )
    service = LocalService(settings)
    service.train(
        _dataset(codes_frame().to_csv(index=False).encode()),
        target="label",
        name="codes",
        params={"n_estimators": 10},
    )
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


def _dataset(raw: bytes) -> Dataset:
    return read_bytes(raw, source="codes.csv", filename="codes.csv")


def test_mlflow_csv_body_reads_the_codes_as_text(app):
    response = app.test_client().post(
        "/api/models/codes/invocations", data=SCORE_CSV, content_type="text/csv"
    )
    assert response.status_code == 200, response.text
    assert response.json["predictions"][:3] == EXPECTED


def test_json_numbers_with_a_gap_name_their_category(app):
    records = [{"code": 5, "noise": 0.1}, {"code": None, "noise": 0.2}]
    # pandas makes 5 and None the floats 5.0 and NaN; the model knows the category "5".
    response = app.test_client().post("/api/predict", json={"model": "codes", "records": records})
    assert response.status_code == 200, response.text
    assert response.json["predictions"][0]["label"] == "c"
    assert response.json["warnings"] == []


def test_a_scored_file_from_the_page_keeps_codes_and_labels(app):
    upload = {"file": (io.BytesIO(SCORE_CSV.encode()), "score.csv")}
    client = app.test_client()
    result = client.post("/models/codes/predict/batch", data=upload)
    assert result.status_code == 302, result.text
    response = client.get(f"{result.headers['Location']}/download")
    assert response.status_code == 200, response.text
    scored = pd.read_csv(io.BytesIO(response.data), dtype=str)
    assert scored["code"].tolist()[:3] == ["007", "008", "5"]
    assert scored["prediction"].tolist()[:3] == EXPECTED


def test_an_uploaded_training_file_keeps_zero_padded_codes(app):
    frame = codes_frame().query("code in ['007', '008']")
    upload = {"file": (io.BytesIO(frame.to_csv(index=False).encode()), "zips.csv")}
    client = app.test_client()
    response = client.post("/api/datasets", data=upload)
    assert response.status_code in (200, 201), response.text
    settings = app.extensions["dsba"].settings
    service = LocalService(settings)
    trained = service.train_stored(response.json["id"], name="zips", target="label")
    assert trained["features"] == ["code", "noise"]
    code = service.registry.get_schema("zips")["features"][0]
    assert (code["kind"], code["categories"]) == ("categorical", ["007", "008"])


def test_a_decimal_comma_file_is_scored_over_the_api(app, tmp_path):
    raw, _ = decimal_comma_csv()
    settings = app.extensions["dsba"].settings
    service = LocalService(settings)
    service.train(_dataset(raw), target="label", name="weather", params={"n_estimators": 20})
    score, labels = decimal_comma_csv(rows=40, seed=1)
    response = app.test_client().post(
        "/api/models/weather/invocations", data=score, content_type="text/csv"
    )
    assert response.status_code == 200, response.text
    predicted = response.json["predictions"]
    assert sum(p == y for p, y in zip(predicted, labels, strict=True)) >= 36


def test_remote_cli_scores_digit_codes_through_a_real_server(live_server, tmp_path):
    # No schema on the client: the zero-padded codes stay text by their look, and the
    # server maps the 5.0 beside a blank cell to the category "5".
    service = LocalService(Settings(registry_dir=live_server.registry_dir, train_threads=1))
    raw = codes_frame().to_csv(index=False).encode()
    service.train(_dataset(raw), target="label", name="codes", params={"n_estimators": 10})
    data = tmp_path / "score.csv"
    data.write_text(SCORE_CSV)
    env = {"DSBA_REGISTRY_DIR": str(tmp_path / "unused")}
    args = ["--remote", live_server.url, "--json", "predict", "codes", str(data)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert [row["label"] for row in answer["predictions"]][:3] == EXPECTED
    assert answer["warnings"] == []


def test_remote_cli_writes_the_flag_columns_from_the_servers_answer(live_server, tmp_path):
    # A remote answer carries no input report: the per-row flags make the same two columns.
    source = tmp_path / "passengers.csv"
    passengers(200).to_csv(source, index=False)
    service = LocalService(Settings(registry_dir=live_server.registry_dir, train_threads=1))
    service.train(str(source), target="survived", name="ship", params={"n_estimators": 10})
    unreliable = {"pclass": "first", "sex": "Female", "embarked": "Southampton", "sibsp": None}
    rows = [{**KNOWN_WOMAN, "sibsp": 0}, {**MISSPELT_WOMAN, "sibsp": 0}, unreliable]
    data = tmp_path / "score.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    env = {"DSBA_REGISTRY_DIR": str(tmp_path / "unused")}
    args = ["--remote", live_server.url, "predict", "ship", str(data), "-o", str(out)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(out, keep_default_na=False)
    assert scored["unseen_features"].tolist() == [0, 2, 3]
    assert scored["warnings"][0] == ""
    assert scored["warnings"][1] == "unseen pclass='first', sex='Female'"
    assert scored["warnings"][2].endswith("; unreliable: most features unseen or missing")
