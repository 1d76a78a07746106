"""The analyst's pages for a regression model: train form, model page, predict form, batch file."""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import palmerpenguins
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.data.target import infer_task
from dsba.jobs.job_store import JobStore
from dsba.service import LocalService
from tests.page_text import by_testid
from webapp import create_app

# palmerpenguins' body mass: 94 distinct whole grams, so training infers a regression.
TARGET = "body_mass_g"
FEATURES = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
FEATURES += ["sex", "year"]
GENTOO = {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0}
GENTOO |= {"flipper_length_mm": 218, "sex": "male", "year": 2008}


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """palmerpenguins, 344 rows (2 without a body mass)."""
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> Settings:
    """A store with 'mass' (a regression, inferred) and 'mixed' (v1 species, v2 body mass)."""
    root = tmp_path_factory.mktemp("regression-pages")
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    service = LocalService(settings)
    csv = root / "penguins.csv"
    penguins.to_csv(csv, index=False)
    service.train(str(csv), target=TARGET, name="mass", params={"n_estimators": 60})
    service.train(str(csv), target="species", name="mixed", params={"n_estimators": 10})
    service.train(str(csv), target=TARGET, name="mixed", params={"n_estimators": 10})
    return settings


@pytest.fixture(scope="module")
def app(settings: Settings):
    """An app over the module's store."""
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    """A test client of the module's app."""
    return app.test_client()


@pytest.fixture(scope="module")
def mass(settings: Settings) -> dict:
    """The metadata of the regression version the pages show."""
    return LocalService(settings).metadata("mass:1")


def _text(response) -> str:
    return response.get_data(as_text=True)


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def _chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html)
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def _upload(client, frame: pd.DataFrame, filename: str) -> str:
    data = {"file": (io.BytesIO(frame.to_csv(index=False).encode()), filename)}
    response = client.post("/train", data=data)
    assert response.status_code == 302, _text(response)
    return response.headers["Location"]


def test_the_model_page_shows_regression_cards_against_the_mean_baseline(client, mass):
    html = _text(client.get("/models/mass"))
    metrics = mass["metrics"]

    assert f"regression of <code>{TARGET}</code> with 90% prediction intervals" in html
    for key in ("rmse", "mae", "median_absolute_error"):
        shown, baseline = by_testid(html, f"metric-{key}"), by_testid(html, f"baseline-{key}")
        assert _number(shown) == pytest.approx(metrics[key], rel=1e-3), key
        assert _number(shown) < _number(baseline), key
    r2 = _number(by_testid(html, "metric-r2"))
    assert r2 == pytest.approx(metrics["r2"], abs=1e-3) and r2 > 0.6
    assert abs(_number(by_testid(html, "baseline-r2"))) < 0.05  # the mean explains nothing
    assert _number(by_testid(html, "metric-mape")) == pytest.approx(100 * metrics["mape"], abs=0.1)
    rows = mass["dataset"]["rows"]
    assert f"{rows['calibration']} interval calibration, {rows['test']} test" in html
    # A classifier's parts are not there.
    for absent in ("confusion-matrix", "metric-accuracy", "roc-chart", "Per class"):
        assert absent not in html


def test_the_model_page_charts_predicted_against_actual_and_the_residuals(client, mass):
    data = _chart_data(_text(client.get("/models/mass")))
    points = mass["evaluation"]["predicted_vs_actual"]

    assert data["task"] == "regression"
    assert data["actual"] == points["actual"] and data["predicted"] == points["predicted"]
    assert len(data["actual"]) == mass["dataset"]["rows"]["test"]
    residual = np.subtract(points["actual"], points["predicted"])
    np.testing.assert_allclose(data["residual"], residual)
    low, high = data["diagonal"]
    assert low == min(points["actual"] + points["predicted"])
    assert high == max(points["actual"] + points["predicted"])
    assert [d["decile"] for d in data["deciles"]] == list(range(1, 11))
    assert data["importance"] and data["learning_curve"]["metric"] == "rmse"


def test_the_model_page_shows_interval_coverage_against_the_nominal(client, mass):
    html = _text(client.get("/models/mass"))
    intervals = mass["evaluation"]["intervals"]

    assert by_testid(html, "interval-nominal") == "90%"
    measured = _number(by_testid(html, "interval-measured"))
    assert measured == pytest.approx(100 * intervals["coverage"], abs=0.05)
    assert 75 <= measured <= 100
    width = _number(by_testid(html, "interval-width"))
    assert width == pytest.approx(intervals["mean_width"], rel=1e-3)
    kept = re.search(r'<tr class="table-primary">\s*<th[^>]*>([^<]+)<span', html)
    assert kept and intervals["method"] in {"absolute", "normalized", "cqr"}
    methods = html.split('data-testid="interval-methods"', 1)[1].split("</table>", 1)[0]
    for figures in intervals["candidates"].values():
        assert f"{100 * figures['calibration_coverage']:.1f}% · " in methods
        assert f"{100 * figures['coverage']:.1f}% · " in methods


def test_the_versions_table_shows_each_task_its_columns(client, settings):
    regression_only = _text(client.get("/models/mass"))
    table = regression_only.split('data-testid="versions-table"', 1)[1].split("</table>", 1)[0]
    assert ">RMSE</th>" in table and ">R²</th>" in table and "Accuracy" not in table

    mixed = _text(client.get("/models/mixed"))
    table = mixed.split('data-testid="versions-table"', 1)[1].split("</table>", 1)[0]
    assert ">Task</th>" in table and ">Accuracy</th>" in table and ">RMSE</th>" in table
    rows = re.findall(r'<tr[^>]*data-version="(\d)">(.*?)</tr>', table, re.S)
    cells = {int(v): re.findall(r"<td[^>]*>([^<]*)</td>", row) for v, row in rows}
    v1, v2 = LocalService(settings).metadata("mixed:1"), LocalService(settings).metadata("mixed:2")
    accuracy, f1 = (f"{v1['metrics'][key]:.3f}" for key in ("accuracy", "f1_macro"))
    assert cells[1][1:4] == ["classification", accuracy, f1]
    assert cells[1][4:6] == ["—", "—"]  # no RMSE nor R² for a classifier
    assert cells[2][1:4] == ["regression", "—", "—"]
    assert _number(cells[2][4]) == pytest.approx(v2["metrics"]["rmse"], rel=1e-3)
    assert cells[2][5] == f"{v2['metrics']['r2']:.3f}"


def test_the_home_page_gives_a_regression_its_r2(client, settings):
    html = _text(client.get("/"))
    r2 = LocalService(settings).metadata("mass:1")["metrics"]["r2"]

    assert re.search(rf'data-testid="home-r2">\s*R² <strong>{r2:.3f}</strong>', html)
    assert ">regression</td>" in html


def test_the_predict_form_shows_the_value_with_its_interval(client, mass):
    form = {f"f{i}": str(GENTOO[name]) for i, name in enumerate(FEATURES)}
    response = client.post("/models/mass/predict", data=form)

    assert response.status_code == 200
    html = _text(response)
    value = _number(by_testid(html, "predicted-value"))
    lower = _number(by_testid(html, "interval-lower"))
    upper = _number(by_testid(html, "interval-upper"))
    assert 4500 < value < 6500  # a large male Gentoo
    assert lower < value < upper
    assert "90% interval" in html
    assert 'data-testid="interval-bar"' in html
    assert "in the units of <code>body_mass_g</code>" in html  # the contributions' unit
    assert 'data-testid="probabilities"' not in html


def test_the_predict_page_of_a_regression_names_its_interval_columns(client):
    html = _text(client.get("/models/mass/predict"))

    assert "<code>prediction_lower</code> and <code>prediction_upper</code>" in html
    assert "probability_&lt;class&gt;" not in html


def test_a_scored_file_summarises_values_and_downloads_the_interval_columns(client, penguins):
    rows = penguins.drop(columns=[TARGET]).head(60)
    data = {"file": (io.BytesIO(rows.to_csv(index=False).encode()), "rows.csv")}
    response = client.post("/models/mass/predict/batch", data=data)
    assert response.status_code == 302, _text(response)

    html = _text(client.get(response.headers["Location"]))
    download = client.get(response.headers["Location"] + "/download")
    scored = pd.read_csv(io.BytesIO(download.data))

    assert "60 rows scored by mass" in html
    assert "<code>prediction_lower</code> and <code>prediction_upper</code>" in html
    assert {"prediction", "prediction_lower", "prediction_upper"} <= set(scored.columns)
    assert not any(c.startswith("probability_") for c in scored.columns)
    assert (scored["prediction_lower"] <= scored["prediction"]).all()
    assert (scored["prediction"] <= scored["prediction_upper"]).all()
    median = _number(by_testid(html, "value-median"))
    assert median == pytest.approx(scored["prediction"].median(), rel=1e-3)
    width = (scored["prediction_upper"] - scored["prediction_lower"]).mean()
    assert _number(by_testid(html, "value-width")) == pytest.approx(width, rel=1e-3)
    counts = re.findall(r'<span>([\d,]+)</span></div>\s*<div class="progress progress-thin"', html)
    assert sum(int(c) for c in counts) == 60


def test_the_dataset_page_shows_the_task_training_infers_for_each_column(client, penguins):
    frame = penguins.copy()
    # Floats without fractions and few values are classes; with fractions, a quantity.
    frame["rating"] = np.where(frame.index % 7 == 0, np.nan, frame.index % 5 + 1.0)
    frame["dose"] = (frame.index % 4) * 0.5 + 0.25
    html = _text(client.get(_upload(client, frame, "penguins-plus.csv")))
    match = re.search(r'<script type="application/json" id="inferred-tasks">(.*?)</script>', html)

    assert match
    shown = json.loads(match.group(1))
    assert shown == {c: infer_task(frame[c]) for c in frame.columns}
    assert shown[TARGET] == "regression" and shown["species"] == "classification"
    assert shown["rating"] == "classification" and shown["dose"] == "regression"
    assert shown["year"] == "classification"
    assert '<option selected value="">Automatic</option>' in html
    assert 'id="interval"' in html and 'value="0.9"' in html
    objective = re.search(r'<select[^>]*id="objective"[^>]*>(.*?)</select>', html, re.S)
    assert objective and "reg:squarederror" in objective.group(1)
    assert "reg:tweedie" in objective.group(1)


def test_the_train_form_refuses_an_interval_outside_its_range(client, settings, penguins):
    location = _upload(client, penguins, "penguins.csv")
    jobs_before = len(JobStore(settings).list())

    response = client.post(
        location,
        data={"target": TARGET, "name": "wide", "interval": "1.5", "test_size": "0.2", "seed": "1"},
    )

    assert response.status_code == 400
    assert "Number must be between 0.5 and 0.99" in _text(response)
    assert len(JobStore(settings).list()) == jobs_before


def test_the_train_form_overrides_the_task_and_sets_the_interval(client, settings, penguins):
    location = _upload(client, penguins.iloc[::2], "half.csv")

    response = client.post(
        location,
        data={
            "target": "flipper_length_mm",
            "name": "flippers",
            "task": "regression",
            "interval": "0.8",
            "test_size": "0.2",
            "seed": "3",
            "param_n_estimators": "20",
            "objective": "reg:absoluteerror",
        },
    )

    assert response.status_code == 302, _text(response)
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = JobStore(settings).get(job_id)
    assert job["request"]["task"] == "regression" and job["request"]["interval"] == 0.8
    assert job["request"]["params"]["objective"] == "reg:absoluteerror"
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = JobStore(settings).get(job_id)
    assert job["state"] == "succeeded", job
    job_page = _text(client.get(f"/jobs/{job_id}"))
    assert by_testid(job_page, "job-task") == "a regression with 80% prediction intervals"
    metadata = LocalService(settings).metadata("flippers")
    assert metadata["task"] == "regression" and metadata["intervals"]["coverage"] == 0.8
    assert metadata["params"]["objective"] == "reg:absoluteerror"
    html = _text(client.get("/models/flippers"))
    assert by_testid(html, "interval-nominal") == "80%"


def test_a_text_target_forced_to_regression_is_explained_before_any_job(client, settings, penguins):
    location = _upload(client, penguins, "penguins.csv")
    jobs_before = len(JobStore(settings).list())

    response = client.post(
        location,
        data={
            "target": "island",
            "name": "islands",
            "task": "regression",
            "test_size": "0.2",
            "seed": "1",
        },
    )

    assert response.status_code == 400
    html = _text(response)
    # The refusal names the target, so it shows next to the target field.
    assert "target column &#39;island&#39; holds text" in html
    assert "regression needs numbers" in html
    assert len(JobStore(settings).list()) == jobs_before
