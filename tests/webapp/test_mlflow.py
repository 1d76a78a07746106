"""POST /api/models/<ref>/invocations speaks MLflow's scoring protocol on the real gunicorn.

The reference answer is built the way MLflow's scoring server builds it: the request becomes
pd.DataFrame(index=..., columns=..., data=...) (mlflow.utils.proto_json_utils), the model
predicts on it, and the answer is {"predictions": [one label per row, in row order]}. Here
the model's predict is the booster itself on that frame (categorical columns typed with the
training categories, as mlflow.xgboost's pyfunc would need them), argmax -> class label.
"""

from __future__ import annotations

import json

import numpy as np
import palmerpenguins
import pandas as pd
import pytest
import requests
import xgboost as xgb
from datagen import penguins_model

from dsba.registry.model_registry import ModelRegistry

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}


def session() -> requests.Session:
    """A session that never sends loopback traffic through a proxy from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """Penguins without the target, missing values included."""
    return palmerpenguins.load_penguins().drop(columns=["species"])


@pytest.fixture(scope="module")
def invocations(live_server):
    """The invocations URL of a penguins model stored in the server's registry."""
    penguins_model(live_server.registry_dir, rounds=30)
    return f"{live_server.url}/api/models/penguins/invocations"


def mlflow_reference(registry_dir, split: dict) -> list:
    """What MLflow's scoring server answers for a dataframe_split of this classifier."""
    frame = pd.DataFrame(index=split.get("index"), columns=split.get("columns"), data=split["data"])
    model = ModelRegistry(registry_dir).load("penguins")
    columns = {}
    for feature in model.schema["features"]:
        values = frame[feature["name"]]
        if feature["kind"] == "categorical":
            columns[feature["name"]] = pd.Categorical(values, categories=feature["categories"])
        else:
            columns[feature["name"]] = pd.to_numeric(values).astype(np.float32)
    matrix = xgb.DMatrix(pd.DataFrame(columns), enable_categorical=True)
    probabilities = model.booster.predict(matrix)
    return [model.schema["classes"][i] for i in probabilities.argmax(axis=1)]


def split_of(frame: pd.DataFrame) -> dict:
    """pandas' to_json(orient="split"), as MLflow's clients send it (index included)."""
    return json.loads(frame.to_json(orient="split"))


def post(url: str, payload: dict) -> requests.Response:
    """POST a JSON body."""
    return session().post(url, json=payload, timeout=30)


def test_dataframe_split_answers_as_mlflow_would(live_server, invocations, penguins):
    rows = penguins.sample(80, random_state=7)
    split = split_of(rows)
    assert "index" in split

    response = post(invocations, {"dataframe_split": split})

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"predictions": mlflow_reference(live_server.registry_dir, split)}
    assert set(response.json()["predictions"]) <= SPECIES


def test_every_format_gives_the_same_answer(invocations, penguins):
    rows = penguins.head(25)
    records = json.loads(rows.to_json(orient="records"))
    expected = post(invocations, {"dataframe_split": split_of(rows)}).json()
    columns = {c: [r[c] for r in records] for c in rows.columns}
    shuffled = rows[list(reversed(rows.columns))]
    bodies = [
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": records},
        {"inputs": columns},
        {"instances": columns},
        {"dataframe_split": split_of(shuffled)},
        {
            "dataframe_split": {
                "columns": list(rows.columns),
                "data": json.loads(rows.to_json(orient="values")),
            }
        },
        {"dataframe_records": records, "params": {"ignored": True}},
    ]
    for body in bodies:
        response = post(invocations, body)
        assert response.status_code == 200, (body.keys(), response.text)
        assert response.json() == expected, body.keys()
    csv = session().post(
        invocations,
        data=rows.to_csv(index=False),
        headers={"Content-Type": "text/csv; charset=utf-8"},
        timeout=30,
    )
    assert csv.status_code == 200, csv.text
    assert csv.json() == expected


def test_no_rows_give_no_predictions_as_in_mlflow(invocations):
    answer = post(invocations, {"dataframe_split": {"columns": ["island"], "data": []}})
    assert answer.status_code == 200 and answer.json() == {"predictions": []}


def test_unsupported_bodies_are_415_like_mlflow(invocations):
    http = session()
    for content_type in ("text/plain", "application/xml", "text/csv; charset=latin-1"):
        response = http.post(invocations, data="x", headers={"Content-Type": content_type})
        assert response.status_code == 415, (content_type, response.text)
        assert response.json()["code"] == 415


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "exactly one of"),
        ({"dataframe_split": {"data": []}, "instances": []}, "exactly one of"),
        ({"dataframe_split": [[1, 2]]}, "dataframe_split"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]], "dtype": "x"}}, "dtype"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}, "row 0"),
        ({"dataframe_records": [[1, 2]]}, "list of objects"),
        ({"inputs": {"island": ["Dream"], "year": [2007, 2008]}}, "same number"),
        ({"dataframe_records": [{"island": "Dream"}]}, "missing feature columns"),
        ({"dataframe_records": [{"year": "soon"}]}, "missing feature columns"),
    ],
)
def test_bad_requests_are_400_with_a_message(invocations, body, words):
    response = post(invocations, body)
    assert response.status_code == 400, response.text
    assert words in response.json()["message"]


def test_wrong_types_name_the_column_and_row(invocations, penguins):
    records = json.loads(penguins.head(3).to_json(orient="records"))
    records[2]["body_mass_g"] = "heavy"
    body = post(invocations, {"dataframe_records": records}).json()
    assert body["code"] == 400 and body["errors"] == {"column": "body_mass_g", "rows": [2]}


def test_unknown_models_and_large_batches(live_server, invocations, penguins):
    record = json.loads(penguins.head(1).to_json(orient="records"))
    missing = post(f"{live_server.url}/api/models/nope/invocations", {"instances": record})
    assert missing.status_code == 404
    too_many = post(invocations, {"dataframe_records": record * 10_001})
    assert too_many.status_code == 413 and "10,001" in too_many.json()["message"]
