"""Request bodies go through orjson, and what orjson refuses still means what json makes of it."""

from __future__ import annotations

import json

import pytest
from datagen import penguins_model

from webapp import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app over a store with a small penguins model."""
    service = penguins_model(tmp_path_factory.mktemp("store") / "registry", rounds=20, name="p")
    return create_app({"DSBA_SETTINGS": service.settings, "TESTING": True})


ROW = {
    "island": "Biscoe",
    "bill_length_mm": 45.1,
    "bill_depth_mm": 14.5,
    "flipper_length_mm": 215.0,
    "body_mass_g": None,
    "sex": "female",
    "year": 2008,
}


def post(client, body: bytes, path: str = "/api/predict"):
    return client.post(path, data=body, content_type="application/json")


def test_nan_as_python_clients_send_it_means_missing(app):
    client = app.test_client()
    with_null = post(client, json.dumps({"model": "p", "records": [ROW]}).encode())
    nan_row = {**ROW, "body_mass_g": float("nan")}
    with_nan = post(client, json.dumps({"model": "p", "records": [nan_row]}).encode())
    assert b"NaN" in json.dumps(nan_row).encode()
    assert with_null.status_code == with_nan.status_code == 200
    # Each answer names its own rows in the prediction log; the rest must be equal.
    answers = [with_nan.get_json(), with_null.get_json()]
    for answer in answers:
        assert all(row.pop("id") for row in answer["predictions"])
    assert answers[0] == answers[1]


def test_utf16_bodies_are_read_and_invalid_utf8_is_a_400(app):
    client = app.test_client()
    body = json.dumps({"model": "p", "records": [ROW]})
    assert post(client, body.encode("utf-16")).status_code == 200
    split = json.dumps({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}})
    assert post(client, split.encode("utf-16"), "/api/models/p/invocations").status_code == 200
    broken = post(client, b'{"model": "p", "records": [{"island": "\xff"}]}')
    assert broken.status_code == 400
    assert broken.get_json()["errors"] == {"json": ["Invalid JSON body."]}


def test_integers_beyond_64_bits_reach_the_range_check(app):
    body = json.dumps({"model": "p", "records": [{**ROW, "body_mass_g": 10**400}]}).encode()
    answer = post(app.test_client(), body)
    assert answer.status_code == 400
    assert "beyond the model's range" in answer.get_json()["message"]


def test_an_empty_body_is_missing_fields_not_invalid_json(app):
    answer = post(app.test_client(), b"")
    assert answer.status_code == 422
    assert set(answer.get_json()["errors"]["json"]) == {"model", "records"}


def test_lone_surrogates_echoed_in_warnings_are_written_as_escapes(app):
    row = {**ROW, "island": "\ud800", "\udc00x": 1}
    answer = post(app.test_client(), json.dumps({"model": "p", "records": [row]}).encode())
    assert answer.status_code == 200
    assert "\\ud800" in answer.get_json()["warnings"][1]


@pytest.mark.parametrize(
    ("source", "message"),
    [("a\x00b.csv", "NUL byte"), ("\ud800.csv", "valid Unicode text")],
)
def test_paths_no_file_system_can_hold_are_a_400(app, source, message):
    body = json.dumps({"source": source, "name": "m", "target": "species"}).encode()
    answer = post(app.test_client(), body, "/api/train")
    assert answer.status_code == 400 and message in answer.get_json()["message"]
