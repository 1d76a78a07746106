"""The monitoring API in process: feedback, the report and the export, and their errors."""

from __future__ import annotations

import io

import palmerpenguins
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dsba.config import Settings
from dsba.model.training import train_model
from dsba.monitoring import layout
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService
from webapp import create_app
from webapp.api.monitoring_schemas import (
    FeedbackResponseSchema,
    LoggedPredictionSchema,
    MonitoringReportSchema,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a store holding penguins:1."""
    root = tmp_path_factory.mktemp("monapi")
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    palmerpenguins.load_penguins().to_csv(root / "penguins.csv", index=False)
    LocalService(settings).train(
        str(root / "penguins.csv"), target="species", name="penguins", params={"n_estimators": 10}
    )
    return settings


@pytest.fixture
def client(trained):
    app = create_app({"DSBA_SETTINGS": trained, "TESTING": True})
    yield app.test_client()
    app.extensions["dsba"].service.prediction_log.close()


def _records(count: int) -> list[dict]:
    frame = palmerpenguins.load_penguins().drop(columns="species").head(count)
    return [
        {k: (None if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]


def _predict(client, count: int) -> list[str]:
    answer = client.post("/api/predict", json={"model": "penguins", "records": _records(count)})
    assert answer.status_code == 200, answer.json
    client.application.extensions["dsba"].service.prediction_log.flush()
    return [p["id"] for p in answer.json["predictions"]]


def test_feedback_counts_unknown_ids_and_labels_and_the_export_joins_labels(client):
    ids = _predict(client, 3)
    body = {
        "feedback": [
            {"id": ids[0], "label": "Adelie"},
            {"id": ids[1], "label": "Gentoo"},
            {"id": ids[1], "label": "Chinstrap"},
            {"id": ids[2], "label": "Dodo"},
            {"id": "01hf7yat00jhbs076n2s2n0000002a", "label": "Adelie"},
            {"label": "Adelie"},
        ]
    }
    answer = client.post("/api/feedback", json=body)
    assert answer.status_code == 200, answer.json
    assert FeedbackResponseSchema().validate(answer.json) == {}
    assert answer.json["accepted"] == 3 and answer.json["unmatched"] == 1
    assert [e["index"] for e in answer.json["invalid"]] == [3, 5]

    exported = client.get("/api/models/penguins/predictions?limit=100")
    assert exported.status_code == 200
    assert LoggedPredictionSchema(many=True).validate(exported.json) == {}
    labels = {row["id"]: row["label"] for row in exported.json}
    assert labels[ids[0]] == "Adelie" and labels[ids[1]] == "Chinstrap" and labels[ids[2]] is None

    named = client.post("/api/feedback", json={"model": "penguins:1", "feedback": body["feedback"]})
    assert named.json["accepted"] == 3
    unknown = client.post("/api/feedback", json={"model": "nobody", "feedback": []})
    assert unknown.status_code == 404


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_export_downloads_a_named_file(client, fmt):
    ids = _predict(client, 2)
    answer = client.get(f"/api/models/penguins/predictions?format={fmt}&limit=100000")
    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="penguins-1-predictions.{fmt}"'
    if fmt == "csv":
        assert answer.mimetype == "text/csv"
        frame = pd.read_csv(io.BytesIO(answer.data), dtype=str)
    else:
        assert answer.mimetype == "application/vnd.apache.parquet"
        frame = pq.read_table(io.BytesIO(answer.data)).to_pandas()
    assert set(ids) <= set(frame[layout.ID])


def test_the_report_conforms_and_bad_windows_are_400s_naming_the_parameter(client):
    _predict(client, 5)
    report = client.get("/api/models/penguins/monitoring")
    assert report.status_code == 200
    assert MonitoringReportSchema().validate(report.json) == {}
    assert report.json["model"] == "penguins:1" and report.json["window"]["rows"] >= 5
    for query, name in (("since=yesterday", "since"), ("until=2026-13-01", "until")):
        answer = client.get(f"/api/models/penguins/monitoring?{query}")
        assert answer.status_code == 400 and answer.json["message"].startswith(name)
    backwards = client.get("/api/models/penguins/monitoring?since=2026-01-02&until=2026-01-01")
    assert (
        backwards.status_code == 400 and "since must be before until" in backwards.json["message"]
    )
    assert client.get("/api/models/nobody/monitoring").status_code == 404
    assert client.get("/api/models/penguins:9/predictions").status_code == 404


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=100001", "limit=ten", "format=xlsx", "since=" + "9" * 100]
)
def test_bad_export_arguments_are_4xx(client, query):
    answer = client.get(f"/api/models/penguins/predictions?{query}")
    assert answer.status_code in (400, 422), answer.json
    assert set(answer.json) >= {"code", "status", "message"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"feedback": "Adelie"}, 400),
        ({"feedback": [{"id": "x", "label": "y"}] * 10_001}, 413),
        ({}, 422),
        ([], 422),
        ({"feedback": [], "model": ""}, 422),
    ],
    ids=["not-a-list", "too-many", "missing", "not-an-object", "empty-model"],
)
def test_malformed_feedback_bodies_are_clear_4xx(client, body, status):
    answer = client.post("/api/feedback", json=body)
    assert answer.status_code == status, answer.json
    assert answer.json["code"] == status


def test_a_feedback_body_over_its_byte_limit_is_a_413(client):
    answer = client.post(
        "/api/feedback",
        data=b'{"feedback": [' + b" " * (4 * 2**20) + b"]}",
        content_type="application/json",
    )
    assert answer.status_code == 413
    assert "4,194,304 bytes" in answer.json["message"]


def test_a_version_without_reference_reports_its_status(tmp_path):
    settings = Settings(registry_dir=tmp_path / "registry", train_threads=1)
    frame = palmerpenguins.load_penguins()
    result = train_model(frame, "species", params={"n_estimators": 5}, threads=1)
    # As saved before monitoring existed: no reference.json among the artifacts.
    ModelRegistry(settings.registry_dir).save_version(
        "penguins",
        result.booster,
        result.schema.to_dict(),
        {"metrics": result.evaluation["metrics"]},
    )
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True})
    with app.test_client() as client:
        empty = client.get("/api/models/penguins/monitoring")
        assert empty.status_code == 200 and empty.json["status"] == "no_data"
        _predict(client, 3)
        answer = client.get("/api/models/penguins/monitoring")
    app.extensions["dsba"].service.prediction_log.close()
    assert answer.status_code == 200 and answer.json["status"] == "no_reference"
    assert MonitoringReportSchema().validate(answer.json) == {}
    assert "no reference profile" in answer.json["notes"][0]


def test_an_out_of_range_prediction_says_so_in_the_api_warnings(client):
    records = _records(2)
    records[1]["flipper_length_mm"] = 645.0
    answer = client.post("/api/predict", json={"model": "penguins", "records": records})
    assert answer.status_code == 200
    [warning] = answer.json["warnings"]
    assert warning.startswith("values outside the training range")
    assert "flipper_length_mm in 1 row (e.g. 645;" in warning


def test_the_openapi_document_describes_the_three_export_formats(client):
    paths = client.get("/api/openapi.json").json["paths"]
    ok = paths["/api/models/{ref}/predictions"]["get"]["responses"]["200"]
    assert ok["description"] and set(ok["content"]) == {
        "application/json",
        "text/csv",
        "application/vnd.apache.parquet",
    }
    feedback = paths["/api/feedback"]["post"]
    assert set(feedback["responses"]) >= {"200", "400", "404", "413", "422"}
