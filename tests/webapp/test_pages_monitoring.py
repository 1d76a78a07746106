"""The monitoring page, the feedback upload and the predict form's training ranges, in Flask."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import palmerpenguins
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.model.training import train_model
from dsba.monitoring import layout
from dsba.service import LocalService
from tests.logfiles import log_rows
from webapp import create_app

SHIFTED = "bill_length_mm"
FEATURES = 7
# A past window for rows laid down by tests.logfiles, apart from the rows scored "now".
PAST = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
PAST_QUERY = {"since": PAST.isoformat(), "until": (PAST + timedelta(hours=6)).isoformat()}


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """palmerpenguins, 344 rows."""
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame):
    """An app over 'penguins' trained on 60% of the rows of each species."""
    settings = Settings(registry_dir=tmp_path_factory.mktemp("monitoring"), train_threads=1)
    train = penguins.groupby("species", group_keys=False).sample(frac=0.6, random_state=7)
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, "penguins.csv", "csv", 1)
    LocalService(settings).train(
        dataset, target="species", name="penguins", params={"n_estimators": 30}
    )
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.config["HELD_OUT"] = penguins.drop(index=train.index)
    return app


@pytest.fixture(scope="module")
def scored(app) -> pd.DataFrame:
    """The held-out rows scored through /api/predict now, with their ids and true species."""
    held_out = app.config["HELD_OUT"]
    features = held_out.drop(columns="species")
    records = [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in features.to_dict("records")
    ]
    answer = app.test_client().post("/api/predict", json={"model": "penguins", "records": records})
    assert answer.status_code == 200, answer.text
    app.extensions["dsba"].service.prediction_log.flush()
    predictions = answer.json["predictions"]
    return pd.DataFrame(
        {
            "id": [p["id"] for p in predictions],
            "prediction": [p["label"] for p in predictions],
            "species": held_out["species"].to_numpy(),
        }
    )


@pytest.fixture
def client(app):
    """A test client of the module's app."""
    return app.test_client()


def _text(response) -> str:
    return response.get_data(as_text=True)


def _rows(html: str) -> list[str]:
    return re.findall(r'data-testid="drift-row" data-feature="([^"]+)"', html)


def _charts(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="monitoring-data">(.*?)</script>', html)
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def _status(html: str) -> str:
    return re.search(r'data-testid="status-banner" data-status="([a-z_]+)"', html).group(1)


def test_the_model_page_links_to_its_monitoring(client):
    html = _text(client.get("/models/penguins"))

    assert 'href="/models/penguins/monitoring?version=1"' in html


def test_held_out_rows_scored_through_the_app_read_ok(client, scored):
    response = client.get("/models/penguins/monitoring")

    assert response.status_code == 200
    html = _text(response)
    assert _status(html) == "ok"
    assert f'<strong class="text-body">{len(scored)}</strong> predictions' in html
    assert len(_rows(html)) == FEATURES
    assert 'data-testid="drifted"' not in html
    charts = _charts(html)
    assert sum(hour["rows"] for hour in charts["volume"]) == len(scored)
    assert len(charts["volume"]) in (24, 25)  # every hour of the window, empty ones at zero
    assert len(charts["histograms"]) == FEATURES
    assert charts["accuracy"]["estimated"][-1] == pytest.approx(
        float(re.search(r'estimated-accuracy">([0-9.]+)<', html).group(1)), abs=1e-3
    )
    assert 'data-testid="empty-state"' not in html


def test_a_tripled_feature_is_the_first_row_and_drifted(app, client):
    held_out = app.config["HELD_OUT"].drop(columns="species")
    shifted = held_out.assign(**{SHIFTED: held_out[SHIFTED] * 3})
    model = app.extensions["dsba"].service.registry.load("penguins")
    log_rows(app.extensions["dsba"].settings.registry_dir, model, shifted, PAST)

    html = _text(client.get("/models/penguins/monitoring", query_string=PAST_QUERY))

    assert _status(html) == "drift"
    assert _rows(html)[0] == SHIFTED
    first = html.split('data-testid="drift-row"')[1]
    assert 'data-testid="drifted">drifted<' in first and "out of range" in first
    assert first.count("100%") == 1  # every value outside the training range
    assert html.count('data-testid="drifted"') == 1


def test_a_window_without_rows_says_how_to_get_some(client, scored):
    query = {"since": "2020-01-01", "until": "2020-01-02"}
    html = _text(client.get("/models/penguins/monitoring", query_string=query))

    assert _status(html) == "no_data"
    assert 'data-testid="empty-state"' in html
    assert 'href="/models/penguins/predict?version=1"' in html and "POST /api/predict" in html
    assert "volume-chart" not in html and "drift-table" not in html
    assert 'value="2020-01-01T00:00"' in html  # the picker shows the window asked for


def test_a_version_without_reference_says_so(app, client, penguins):
    service = app.extensions["dsba"].service
    result = train_model(penguins, "species", params={"n_estimators": 5}, threads=1)
    # As saved before monitoring existed: no reference.json among the artifacts.
    service.registry.save_version(
        "old", result.booster, result.schema.to_dict(), {"metrics": result.evaluation["metrics"]}
    )
    log_rows(service.settings.registry_dir, service.registry.load("old"), penguins.head(30), PAST)

    html = _text(client.get("/models/old/monitoring", query_string=PAST_QUERY))

    assert _status(html) == "no_reference"
    assert "No reference profile" in html and "Retrain the model" in html
    assert '<strong class="text-body">30</strong> predictions' in html
    assert "drift-table" not in html
    assert sum(hour["rows"] for hour in _charts(html)["volume"]) == 30


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "since must be before until"),
        ({"last": "2y"}, "last must be one of 24h, 7d, 30d"),
    ],
    ids=["unparseable", "reversed", "preset"],
)
def test_a_bad_window_gets_a_400_page(client, query, message):
    response = client.get("/models/penguins/monitoring", query_string=query)

    assert response.status_code == 400
    assert message in _text(response)


def test_unknown_query_keys_are_ignored(client):
    response = client.get("/models/penguins/monitoring?name=other&last=7d&x=1")

    assert response.status_code == 200
    assert 'action="/models/penguins/monitoring?last=7d"' in _text(response)


def test_a_malformed_version_or_unknown_model_is_404(client):
    assert client.get("/models/penguins/monitoring?version=x").status_code == 404
    assert client.get("/models/nobody/monitoring").status_code == 404


def test_each_view_computes_one_report(app, client, monkeypatch):
    service = app.extensions["dsba"].service
    calls = []
    real = service.monitoring
    monkeypatch.setattr(service, "monitoring", lambda *a, **k: calls.append(a) or real(*a, **k))

    client.get("/models/penguins/monitoring?last=7d")
    client.post("/models/penguins/monitoring", data={"id_column": "id", "label_column": "label"})

    assert len(calls) == 2


def _labels_csv(frame: pd.DataFrame, id_column: str, label_column: str) -> bytes:
    return (
        frame.rename(columns={"id": id_column, "species": label_column})
        .to_csv(index=False, columns=[id_column, label_column])
        .encode()
    )


def test_labels_uploaded_give_counts_and_the_live_accuracy(app, client, scored):
    good = scored.iloc[:-3]
    bad = pd.DataFrame(
        {
            "id": ["not-a-logged-id", scored["id"].iloc[-2], scored["id"].iloc[-1]],
            "species": ["Adelie", "Dodo", ""],
        }
    )
    body = _labels_csv(pd.concat([good, bad]), "prediction_id", "truth")

    response = client.post(
        "/models/penguins/monitoring?version=1&last=7d",
        data={
            "file": (io.BytesIO(body), "labels.csv"),
            "id_column": "prediction_id",
            "label_column": "truth",
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/models/penguins/monitoring?version=1&last=7d"
    html = _text(client.get(response.headers["Location"]))
    assert re.search(r'feedback-accepted">(\d+)<', html).group(1) == str(len(good))
    assert re.search(r'feedback-unmatched">(\d+)<', html).group(1) == "1"
    assert re.search(r'feedback-invalid">(\d+)<', html).group(1) == "2"
    row_dodo, row_empty = len(good) + 2, len(good) + 3
    assert f"row {row_dodo}" in html and "label &#39;Dodo&#39; is not a class of penguins:1" in html
    assert f"row {row_empty}" in html and "&#39;label&#39; is missing" in html
    by_hand = float(np.mean(good["prediction"] == good["species"]))
    assert re.search(r'live-accuracy">([0-9.]+)<', html).group(1) == f"{by_hand:.3f}"
    # The result is shown once, after the redirect.
    assert 'data-testid="feedback-result"' not in _text(client.get("/models/penguins/monitoring"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"a,b\n1,2\n",
            "the file has no columns &#39;id&#39; and &#39;label&#39; (its columns: a, b)",
        ),
        (
            b"id,species\nx,Adelie\n",
            "the file has no column &#39;label&#39; (its columns: id, species)",
        ),
        (b"", "file is empty"),
    ],
    ids=["other-columns", "one-missing", "empty"],
)
def test_a_labels_file_that_does_not_fit_is_a_form_error(app, client, body, message):
    folder = layout.feedback_dir(app.extensions["dsba"].settings.registry_dir, "penguins")
    before = sorted(folder.rglob("*.parquet")) if folder.exists() else []

    response = client.post(
        "/models/penguins/monitoring",
        data={"file": (io.BytesIO(body), "labels.csv"), "id_column": "id", "label_column": "label"},
    )

    assert response.status_code == 400
    html = _text(response)
    assert message in html and 'class="form-control is-invalid"' in html
    assert (sorted(folder.rglob("*.parquet")) if folder.exists() else []) == before


def test_the_predict_form_shows_training_ranges_and_common_values(app, client):
    reference = app.extensions["dsba"].service.reference("penguins")
    bill = next(f for f in reference["features"] if f["name"] == SHIFTED)

    html = _text(client.get("/models/penguins/predict"))

    hints = re.findall(r'data-testid="training-range">([^<]+)<', html)
    assert len(hints) == FEATURES
    assert f"training range {bill['min']:.4g} – {bill['max']:.4g}, median " in html
    assert re.search(r"most common in training: (Biscoe|Dream|Torgersen) \(\d+%\)", html)


def test_an_out_of_range_value_is_said_on_the_result(app, client):
    schema = app.extensions["dsba"].service.registry.get_schema("penguins:1")
    fields = [f["name"] for f in schema["features"]]
    row = {"island": "Biscoe", "bill_length_mm": "150", "bill_depth_mm": "15"}
    row |= {"flipper_length_mm": "220", "body_mass_g": "5000", "sex": "male", "year": "2008"}
    data = {f"f{i}": row[name] for i, name in enumerate(fields)}

    html = _text(client.post("/models/penguins/predict", data=data))

    warnings = re.findall(r'data-testid="prediction-warning">([^<]+)<', html)
    assert len(warnings) == 1
    assert "bill_length_mm in 1 row (e.g. 150; trained on" in warnings[0]
    assert 'data-testid="predicted-label"' in html


def test_a_scored_file_points_to_the_feedback_upload(app, client):
    rows = app.config["HELD_OUT"].drop(columns="species").head(5)
    upload = {"file": (io.BytesIO(rows.to_csv(index=False).encode()), "rows.csv")}
    location = client.post("/models/penguins/predict/batch", data=upload).headers["Location"]

    html = _text(client.get(location))

    hint = re.search(r'data-testid="feedback-hint">(.*?)</p>', html, re.S).group(1)
    assert "<code>id</code>" in hint and 'href="/models/penguins/monitoring?version=1"' in hint
    download = pd.read_csv(io.BytesIO(client.get(f"{location}/download").data))
    assert download.columns[0] == "id"


def test_boolean_and_datetime_inputs_get_their_training_ranges(app, client, tmp_path):
    rows = 60
    frame = pd.DataFrame(
        {
            "seen": [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:30:00" for i in range(rows)],
            "member": ["yes", "no", "no"] * (rows // 3),
            "spend": [float(i % 17) for i in range(rows)],
            "tier": ["gold", "silver", "bronze", "silver"] * (rows // 4),
        }
    )
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    app.extensions["dsba"].service.train(
        str(tmp_path / "mixed.csv"), target="tier", name="mixed", params={"n_estimators": 5}
    )

    html = _text(client.get("/models/mixed/predict"))

    hints = re.findall(r'data-testid="training-range">([^<]+)<', html)
    assert hints[0].startswith("training range 2024-01-01 – 2024-12-")
    assert re.fullmatch(r"true in (2\d|3\d)% of training rows", hints[1])
    assert re.fullmatch(r"training range 0 – 16, median \d+(\.\d+)?", hints[2])
