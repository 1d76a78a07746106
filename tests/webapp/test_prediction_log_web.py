"""Every scoring path of the app logs what it scored, and answers with the rows' ids."""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import replace

import palmerpenguins
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dsba.config import Settings
from dsba.monitoring import layout
from dsba.service import LocalService
from webapp import create_app
from webapp.api.schemas import PredictResponseSchema

TOKEN_URL = re.compile(r"/models/penguins/predict/batch/([A-Za-z0-9_-]{32})$")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a store holding penguins:1."""
    root = tmp_path_factory.mktemp("logweb")
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    palmerpenguins.load_penguins().to_csv(root / "penguins.csv", index=False)
    LocalService(settings).train(
        str(root / "penguins.csv"), target="species", name="penguins", params={"n_estimators": 10}
    )
    return settings


def _app(settings: Settings):
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


def _rows(count: int, start: int = 0) -> pd.DataFrame:
    return palmerpenguins.load_penguins().drop(columns="species").iloc[start : start + count]


def _logged(app, settings: Settings) -> pd.DataFrame:
    app.extensions["dsba"].service.prediction_log.flush()
    folder = layout.log_dir(settings.registry_dir, "penguins", 1)
    files = [f for day in sorted(folder.glob("*")) for f in layout.live_files(day)]
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")
    ]


def _check_row(logged: pd.Series, sent: dict, label: str, probabilities: dict) -> None:
    assert logged["prediction"] == label
    for name, p in probabilities.items():
        assert logged[f"proba:{name}"] == pytest.approx(p, abs=1e-6)
    for name, value in sent.items():
        got = logged[f"feature:{name}"]
        assert (pd.isna(got) and value is None) or got == value, name


def test_each_scoring_path_logs_the_rows_it_answered(trained):
    app = _app(trained)
    client = app.test_client()
    api_rows = _records(_rows(3))  # row 3 of penguins is all missing values
    api = client.post(
        "/api/predict",
        json={"model": "penguins", "records": api_rows},
        headers={"X-Request-ID": "req-api"},
    )
    split = _rows(2, 10)
    as_split = {"columns": list(split.columns), "data": _records(split)}
    as_split["data"] = [list(row.values()) for row in as_split["data"]]
    invocations = client.post(
        "/api/models/penguins/invocations",
        json={"dataframe_split": as_split},
        headers={"X-Request-ID": "req-json"},
    )
    csv = client.post(
        "/api/models/penguins/invocations",
        data=_rows(4, 20).to_csv(index=False),
        content_type="text/csv",
        headers={"X-Request-ID": "req-csv"},
    )
    form_row = _records(_rows(1, 40))[0]
    fields = {f"f{i}": "" if v is None else str(v) for i, v in enumerate(form_row.values())}
    form = client.post(
        "/models/penguins/predict", data=fields, headers={"X-Request-ID": "req-form"}
    )
    upload = {"file": (io.BytesIO(_rows(5, 50).to_csv(index=False).encode()), "rows.csv")}
    batch = client.post(
        "/models/penguins/predict/batch", data=upload, headers={"X-Request-ID": "req-batch"}
    )

    assert [r.status_code for r in (api, invocations, csv, form)] == [200] * 4
    assert batch.status_code == 302
    logged = _logged(app, trained).set_index("id", drop=False)
    by_request = logged.groupby("request_id")["source"].agg(["first", "size"])
    assert by_request.to_dict("index") == {
        "req-api": {"first": "api", "size": 3},
        "req-json": {"first": "invocations", "size": 2},
        "req-csv": {"first": "invocations", "size": 4},
        "req-form": {"first": "form", "size": 1},
        "req-batch": {"first": "batch", "size": 5},
    }
    answered = api.json["predictions"]
    assert PredictResponseSchema().validate(api.json) == {}
    assert [p["id"] for p in answered] == logged[logged.request_id == "req-api"]["id"].tolist()
    for prediction, sent in zip(answered, api_rows, strict=True):
        _check_row(
            logged.loc[prediction["id"]], sent, prediction["label"], prediction["probabilities"]
        )
    for request_id, answer in (("req-json", invocations), ("req-csv", csv)):
        rows = logged[logged.request_id == request_id]
        assert rows["prediction"].tolist() == answer.json["predictions"]
    assert logged[logged.request_id == "req-csv"]["feature:bill_length_mm"].tolist() == (
        _rows(4, 20)["bill_length_mm"].tolist()
    )
    _check_row(
        logged[logged.request_id == "req-form"].iloc[0],
        form_row | {"year": float(form_row["year"])},
        re.search(r'data-testid="predicted-label">([^<]+)<', form.text).group(1).strip(),
        {},
    )
    token = TOKEN_URL.search(batch.headers["Location"]).group(1)
    download = client.get(f"/models/penguins/predict/batch/{token}/download")
    scored = pd.read_csv(io.BytesIO(download.data))
    assert scored.columns[0] == "id"
    batch_rows = logged.loc[scored["id"]]
    assert batch_rows["request_id"].unique().tolist() == ["req-batch"]
    assert batch_rows["prediction"].tolist() == scored["prediction"].tolist()
    assert batch_rows["proba:Gentoo"].to_numpy() == pytest.approx(
        scored["probability_Gentoo"], abs=1e-6
    )


def test_with_the_log_off_nothing_is_logged_and_answers_carry_no_id(trained, tmp_path):
    root = tmp_path / "registry"
    shutil.copytree(
        trained.registry_dir, root, ignore=shutil.ignore_patterns(layout.MONITORING_DIR)
    )
    app = _app(replace(trained, registry_dir=root, prediction_log=False))
    answer = app.test_client().post(
        "/api/predict", json={"model": "penguins", "records": _records(_rows(2))}
    )

    assert answer.status_code == 200
    assert all("id" not in p for p in answer.json["predictions"])
    assert app.extensions["dsba"].service.prediction_log is None
    assert not (root / layout.MONITORING_DIR).exists()
