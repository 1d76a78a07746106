"""Monitoring a regression model on the real gunicorn: predictions logged with their
intervals, numeric feedback (a text label is a 400 naming the id), live RMSE/MAE/R² and
coverage equal to the exported rows by hand, the page, `dsba monitor`/`dsba feedback` and
/metrics."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from click.testing import CliRunner
from sklearn import metrics
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from dsba.cli import main
from dsba.client import Client
from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.service import LocalService
from webapp.api.monitoring_schemas import LoggedPredictionSchema, MonitoringReportSchema

NAME = "diabetes"


@pytest.fixture(scope="module")
def holdout_and_server(request, tmp_path_factory):
    """A regression model of diabetes progression on 70% of the rows; the rest; a gunicorn."""
    root_conftest = Path(__file__).resolve().parents[1] / "conftest.py"
    run_gunicorn = request.config.pluginmanager.get_plugin(str(root_conftest)).run_gunicorn
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    train, holdout = train_test_split(frame, test_size=0.3, random_state=0)
    root = tmp_path_factory.mktemp("monreg")
    service = LocalService(Settings(registry_dir=root / "registry", train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, "diabetes.csv", "csv", 1)
    service.train(
        dataset, target="progression", name=NAME, params={"n_estimators": 60}, task="regression"
    )
    with run_gunicorn(root, DSBA_REGISTRY_DIR=str(root / "registry")) as server:
        yield holdout.reset_index(drop=True), server


def _send(url: str, frame: pd.DataFrame) -> tuple[list[dict], str, str]:
    """Score frame through /api/predict; return its predictions and a window of only them."""
    since = datetime.now(UTC).isoformat()
    # Exact values: to_json's 10 digits would move diabetes' two-valued `sex` across a bin.
    records = frame.to_dict(orient="records")
    answer = requests.post(
        f"{url}/api/predict", json={"model": NAME, "records": records}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    time.sleep(0.01)
    return answer.json()["predictions"], since, datetime.now(UTC).isoformat()


def _report(client: Client, since: str, until: str, rows: int) -> dict:
    """The report once the workers have flushed every row of the window (about a second)."""
    for _ in range(100):
        report = client.monitoring(NAME, since, until)
        if report["window"]["rows"] >= rows:
            return report
        time.sleep(0.1)
    raise AssertionError(f"the window holds {report['window']['rows']} of {rows} rows")


def _cli(*args: str, registry: Path, code: int = 0) -> str:
    result = CliRunner().invoke(
        main, list(args), env={"DSBA_REGISTRY_DIR": str(registry)}, catch_exceptions=False
    )
    assert result.exit_code == code, result.output
    return result.output


def test_numeric_feedback_gives_the_live_error_of_the_export(holdout_and_server, tmp_path):
    holdout, server = holdout_and_server
    client = Client(server.url)
    predictions, since, until = _send(server.url, holdout.drop(columns=["progression"]))
    assert all(p["interval"][0] <= p["value"] <= p["interval"][1] for p in predictions)
    ids = [p["id"] for p in predictions]
    report = _report(client, since, until, len(ids))
    assert report["task"] == "regression" and report["status"] == "ok"
    assert report["performance"]["live"] is None and report["performance"]["estimated"] is None
    window = {"since": since, "until": until}
    page = requests.get(f"{server.url}/models/{NAME}/monitoring", params=window, timeout=60)
    assert page.status_code == 200 and "No true values yet for this window" in page.text

    # A text label for a regression prediction: a 400 naming the id, nothing stored.
    items = [{"id": i, "label": float(y)} for i, y in zip(ids, holdout["progression"], strict=True)]
    bad = [*items[:5], {"id": ids[5], "label": "much worse"}]
    refused = requests.post(f"{server.url}/api/feedback", json={"feedback": bad}, timeout=60)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert set(body) >= {"code", "status", "message", "errors"}
    assert ids[5] in body["message"] and "not a number" in body["message"]
    assert str(server.registry_dir) not in refused.text
    assert client.monitoring(NAME, since, until)["performance"]["live"] is None

    # The same through dsba feedback, remote and local: the file is refused, naming the id.
    path = tmp_path / "truth.csv"
    pd.DataFrame([{"id": e["id"], "truth": e["label"]} for e in bad]).to_csv(path, index=False)
    args = ["feedback", NAME, str(path), "--label-column", "truth"]
    for where in (["--remote", server.url], []):
        output = _cli(*args, *where, registry=server.registry_dir, code=3)
        assert ids[5] in output and "not a number" in output

    # Numbers, some as text as a CSV gives them: all accepted.
    items[1]["label"] = str(items[1]["label"])
    answer = client.feedback(items, model=NAME)
    assert answer == {"accepted": len(ids), "unmatched": 0, "invalid": []}
    exported = pd.read_csv(io.BytesIO(client.predictions(NAME, since, until, format="csv")))
    assert not [c for c in exported.columns if c.startswith("proba:")]
    y, p = exported["label"].to_numpy(np.float64), exported["prediction"].to_numpy(np.float64)
    report = client.monitoring(NAME, since, until)
    assert MonitoringReportSchema().validate(report) == {}
    assert LoggedPredictionSchema(many=True).validate(client.predictions(NAME, since, until)) == {}
    live = report["performance"]["live"]
    assert live["rows"] == len(ids)
    assert live["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y, p)), rel=1e-6)
    assert live["mae"] == pytest.approx(metrics.mean_absolute_error(y, p), rel=1e-6)
    assert live["r2"] == pytest.approx(metrics.r2_score(y, p), rel=1e-6)
    inside = (exported["prediction_lower"] <= y) & (y <= exported["prediction_upper"])
    assert live["interval_coverage"] == pytest.approx(inside.mean(), abs=1e-6)

    window = ["--since", since, "--until", until]
    table = _cli("monitor", NAME, *window, "--remote", server.url, registry=server.registry_dir)
    assert f"rmse {live['rmse']:.3f}" in table and "no label-free estimate" in table

    page = requests.get(
        f"{server.url}/models/{NAME}/monitoring",
        params={"since": since, "until": until},
        timeout=60,
    )
    assert page.status_code == 200
    assert 'data-testid="regression-performance"' in page.text
    assert 'data-testid="no-estimate"' in page.text and "predicted values" in page.text
    assert f"{live['rmse']:.3f}" in page.text


def test_shifted_values_drift_and_reach_the_metrics(holdout_and_server):
    holdout, server = holdout_and_server
    shifted = holdout.drop(columns=["progression"])
    shifted["bmi"] = shifted["bmi"] + holdout["bmi"].std()  # heavier patients
    predictions, since, until = _send(server.url, shifted)
    report = _report(Client(server.url), since, until, len(predictions))
    assert report["status"] == "drift" and report["features"][0]["name"] == "bmi"
    assert report["prediction_drift"]["drifted"] is True
    # /metrics covers the last 24 hours: every row sent so far, the shifted ones among them.
    scraped = requests.get(f"{server.url}/metrics", timeout=60).text
    assert f'dsba_feature_drift{{feature="bmi",model="{NAME}",version="1"}}' in scraped
    assert f'dsba_model_monitoring_status{{model="{NAME}",status="drift",version="1"}} 1.0' in (
        scraped
    )


def test_invocations_are_logged_with_their_intervals(holdout_and_server):
    holdout, server = holdout_and_server
    features = holdout.drop(columns=["progression"]).head(7)
    since = datetime.now(UTC).isoformat()
    answer = requests.post(
        f"{server.url}/api/models/{NAME}/invocations",
        json={"dataframe_records": features.to_dict(orient="records")},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    values = answer.json()["predictions"]
    until = datetime.now(UTC).isoformat()
    client = Client(server.url)
    _report(client, since, until, len(values))
    logged = pd.DataFrame(client.predictions(NAME, since, until))
    assert logged["source"].tolist() == ["invocations"] * len(values)
    assert logged["prediction"].tolist() == pytest.approx(values)
    assert (logged["prediction_lower"] <= logged["prediction"]).all()
    assert (logged["prediction"] <= logged["prediction_upper"]).all()
