"""Scoring through the app: explanations keep every feature; a scored file shows its warnings."""

from __future__ import annotations

import io
import re

import palmerpenguins
import pandas as pd
import pytest
from passengers import FEATURES, KNOWN_WOMAN, MISSPELT_WOMAN, passengers

from dsba.config import Settings
from dsba.service import LocalService
from webapp import create_app
from webapp.api.schemas import PredictResponseSchema

BILL_FEATURES = ["island", "bill__length", "bill__depth", "flipper_length_mm", "body_mass_g"]
BILL_FEATURES += ["sex", "year"]
TOKEN_URL = re.compile(r"^/models/titanic/predict/batch/([A-Za-z0-9_-]{32})$")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store holding 'bills' (penguins, bill columns renamed) and 'titanic' (passengers)."""
    root = tmp_path_factory.mktemp("scoring")
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    service = LocalService(settings)
    bills = palmerpenguins.load_penguins().rename(
        columns={"bill_length_mm": "bill__length", "bill_depth_mm": "bill__depth"}
    )
    bills.to_csv(root / "bills.csv", index=False)
    service.train(
        str(root / "bills.csv"), target="species", name="bills", params={"n_estimators": 10}
    )
    passengers().to_csv(root / "passengers.csv", index=False)
    service.train(
        str(root / "passengers.csv"), target="survived", name="titanic", params={"n_estimators": 50}
    )
    return settings


def _app(settings: Settings):
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture(scope="module")
def app(settings):
    """An app over the module's store."""
    return _app(settings)


@pytest.fixture
def client(app):
    """A test client of the module's app."""
    return app.test_client()


BILL_ROW = {"island": "Dream", "bill__length": 49.0, "bill__depth": 18.5}
BILL_ROW |= {"flipper_length_mm": 195, "body_mass_g": 3700, "sex": "female", "year": 2008}


def test_the_api_explains_each_bill_feature_apart(client):
    response = client.post(
        "/api/predict", json={"model": "bills", "records": [BILL_ROW], "contributions": True}
    )

    assert response.status_code == 200, response.text
    [row] = response.json["predictions"]
    assert set(row["contributions"]) == set(BILL_FEATURES)


def test_the_predict_page_explains_each_bill_feature_apart(client):
    form = {f"f{i}": str(BILL_ROW[name]) for i, name in enumerate(BILL_FEATURES)}
    html = client.post("/models/bills/predict", data=form).get_data(as_text=True)

    shown = re.findall(r'<th scope="row" class="fw-normal text-break"><code>([^<]+)</code>', html)
    assert sorted(shown) == sorted(BILL_FEATURES)
    assert '<code>bill__length</code> <span class="text-body-secondary">= 49<' in html


def _misspelt_file() -> bytes:
    frame = passengers(rows=40, seed=5)[FEATURES]
    frame.loc[0] = [KNOWN_WOMAN[name] if name in KNOWN_WOMAN else 0 for name in FEATURES]
    frame.loc[1] = [MISSPELT_WOMAN[name] if name in MISSPELT_WOMAN else 0 for name in FEATURES]
    frame.loc[2:9, "sex"] = frame.loc[2:9, "sex"].str.capitalize()
    # Row 11 (the 12th): only fare and sibsp left, most of the row is guesswork.
    frame.loc[11] = ["first", "Female", None, 12.0, "Southampton", 1]
    frame["note"] = "kept"
    return frame.to_csv(index=False).encode()


def _score(client, raw: bytes, model: str = "titanic"):
    data = {"file": (io.BytesIO(raw), "people.csv")}
    return client.post(f"/models/{model}/predict/batch", data=data)


def test_a_misspelt_file_shows_its_warnings_before_the_download(client, settings):
    response = _score(client, _misspelt_file())

    assert response.status_code == 302
    match = TOKEN_URL.match(response.headers["Location"])
    assert match, response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)

    assert "40 rows scored by titanic" in html
    sex = re.search(r'data-testid="unseen-row" data-column="sex">(.*?)</tr>', html, re.S)
    pclass = re.search(r'data-testid="unseen-row" data-column="pclass">(.*?)</tr>', html, re.S)
    embarked = re.search(r'data-testid="unseen-row" data-column="embarked">(.*?)</tr>', html, re.S)
    assert sex and pclass and embarked
    assert 'data-testid="unseen-count">10<' in sex.group(1)
    assert "<code>Female</code>" in sex.group(1)
    assert "did you mean <code>female</code>" in sex.group(1)
    assert "<code>female</code>, <code>male</code>" in sex.group(1)  # what the model knows
    assert 'data-testid="unseen-count">2<' in pclass.group(1)
    assert "<code>first</code>" in pclass.group(1) and "<code>1st</code>" in pclass.group(1)
    assert re.search(r'data-testid="unreliable">.*1 row has most of the 6 features', html, re.S)
    assert re.search(r"Row 12\.", html)  # counted from 1 after the header
    assert "<code>note</code>" in html  # the ignored column

    download = client.get(f"/models/titanic/predict/batch/{match.group(1)}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="titanic-v1-scored.csv"'
    scored = pd.read_csv(io.BytesIO(download.data), keep_default_na=False)
    assert len(scored) == 40
    assert list(scored.columns)[-5:] == [
        "prediction",
        "probability_no",
        "probability_yes",
        "unseen_features",
        "warnings",
    ]
    assert scored.loc[0, ["prediction", "unseen_features", "warnings"]].tolist() == ["yes", 0, ""]
    assert scored.loc[1, "prediction"] == "no"  # the misspelling changes the answer...
    assert scored.loc[1, "warnings"] == "unseen pclass='first', sex='Female'"  # ...and says so
    assert scored.loc[11, "warnings"].endswith("unreliable: 4 of 6 features unseen or missing")
    assert (scored["unseen_features"] > 0).sum() == 10


def test_another_worker_serves_the_page_and_the_download(client, settings):
    location = _score(client, _misspelt_file()).headers["Location"]
    # A second app over the same store stands in for another gunicorn worker.
    other = _app(settings).test_client()

    assert "did you mean <code>female</code>" in other.get(location).get_data(as_text=True)
    assert other.get(f"{location}/download").status_code == 200


def test_a_clean_file_says_so(client):
    raw = passengers(rows=30, seed=9)[FEATURES].to_csv(index=False).encode()
    html = client.get(_score(client, raw).headers["Location"]).get_data(as_text=True)

    assert 'data-testid="all-known"' in html
    assert 'data-testid="unseen-table"' not in html and 'data-testid="unreliable"' not in html
    # A classifier's file: its classes counted, its probability columns named, no values.
    assert 'data-testid="label-counts"' in html and "probability_&lt;class&gt;" in html
    assert "Predicted values" not in html and "prediction_lower" not in html


@pytest.mark.parametrize(
    "path",
    [
        "/models/titanic/predict/batch/" + "A" * 32,
        "/models/titanic/predict/batch/" + "A" * 32 + "/download",
        "/models/titanic/predict/batch/..%2F..%2Fmodels",
        "/models/titanic/predict/batch/not-a-token/download",
    ],
)
def test_an_unknown_scored_file_is_a_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert "registry" not in response.get_data(as_text=True)


def test_a_scored_file_is_not_served_under_another_model(client):
    location = _score(client, _misspelt_file()).headers["Location"]

    assert client.get(location.replace("/titanic/", "/bills/")).status_code == 404
    assert client.get(location.replace("/titanic/", "/bills/") + "/download").status_code == 404


def test_the_api_flags_rows_and_keeps_its_shape(client):
    records = [
        {**KNOWN_WOMAN, "sibsp": 0},
        {**MISSPELT_WOMAN, "sibsp": 0},
        {
            "pclass": "first",
            "sex": "Female",
            "age": None,
            "fare": 12.0,
            "embarked": "?",
            "sibsp": 1,
        },
    ]
    response = client.post("/api/predict", json={"model": "titanic", "records": records})

    assert response.status_code == 200
    body = response.json
    assert PredictResponseSchema().validate(body) == {}
    clean, misspelt, mostly = body["predictions"]
    assert set(clean) == {"id", "label", "probabilities"}  # id: the row was logged
    assert misspelt["unseen"] == {"pclass": "first", "sex": "Female"}
    assert "unreliable" not in misspelt
    assert mostly["unreliable"] is True
    assert any("unseen categories ['Female']" in w for w in body["warnings"])


def test_values_from_the_file_are_escaped_on_the_page(client):
    frame = passengers(rows=20, seed=3)[FEATURES]
    frame.loc[0, "embarked"] = "<script>alert(1)</script>"
    data = {"file": (io.BytesIO(frame.to_csv(index=False).encode()), "<b>x</b>.csv")}
    location = client.post("/models/titanic/predict/batch", data=data).headers["Location"]
    html = client.get(location).get_data(as_text=True)

    assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
