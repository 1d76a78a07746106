"""Request bodies go through orjson, and what orjson refuses still means what json makes of it."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

import numpy as np
import pytest
from datagen import penguins_model
from flask.json.provider import DefaultJSONProvider

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


@dataclasses.dataclass
class Point:
    """A dataclass answer: Flask writes it as a dict with sorted keys."""

    y: int
    x: str


FLASK_SAME = {
    "b": [1, 2.5, True, None, "tęxt"],
    "a": {"z": 1, "é": 2},
    "ints": {10: "ten", 3: "three"},
    "when": datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC),
    "day": datetime.date(2026, 11, 30),
    "id": uuid.UUID(int=7),
    "amount": decimal.Decimal("1.10"),
    "point": Point(1, "x"),
    "numpy": np.float64(0.25),
    "huge": 10**30,
}


@pytest.mark.parametrize("value", list(FLASK_SAME.values()), ids=list(FLASK_SAME))
def test_answers_mean_what_flasks_own_provider_writes(app, value):
    with app.test_request_context():
        ours = app.json.response({"value": value})
        flask_own = DefaultJSONProvider(app).response({"value": value})
    assert ours.mimetype == flask_own.mimetype == "application/json"
    assert ours.data.endswith(b"\n")
    assert json.loads(ours.data) == json.loads(flask_own.data)


def test_answers_keep_flasks_key_order_and_compact_form(app):
    with app.test_request_context():
        ascii_only = {"b": [1, 2.5, None], "a": {"z": 1, "y": 2}, "when": FLASK_SAME["when"]}
        flask_own = DefaultJSONProvider(app).response(ascii_only)
        assert app.json.response(ascii_only).data == flask_own.data
        assert app.json.response([3, 1]).data == b"[3,1]\n"


def test_nan_in_an_answer_is_null_and_debug_answers_are_indented(app):
    with app.test_request_context():
        assert app.json.response({"x": float("nan")}).data == b'{"x":null}\n'
        app.debug = True
        try:
            assert b'\n  "x": 1' in app.json.response({"x": 1}).data
        finally:
            app.debug = False


def test_api_answers_go_through_the_fast_provider(app):
    answer = app.test_client().get("/api/models")
    assert answer.status_code == 200 and answer.data.endswith(b"\n")
    assert answer.get_json() == json.loads(answer.data)
