"""Monitoring end to end on the real gunicorn: held-out rows stay quiet, a shifted feature
drifts, and feedback gives the live accuracy computed by hand from the exported log; through
the API, `dsba monitor` / `dsba feedback` (local and --remote) and the client."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import palmerpenguins
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
from click.testing import CliRunner
from sklearn.model_selection import train_test_split

from dsba.cli import main
from dsba.client import Client
from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.service import LocalService

SHIFTED = "flipper_length_mm"


@pytest.fixture(scope="module")
def holdout_and_server(request, tmp_path_factory):
    """penguins trained on 70% of the rows; the other 30%; a gunicorn serving the store."""
    root_conftest = Path(__file__).resolve().parents[1] / "conftest.py"
    run_gunicorn = request.config.pluginmanager.get_plugin(str(root_conftest)).run_gunicorn
    frame = palmerpenguins.load_penguins()
    train, holdout = train_test_split(
        frame, test_size=0.3, random_state=0, stratify=frame["species"]
    )
    root = tmp_path_factory.mktemp("monlive")
    service = LocalService(Settings(registry_dir=root / "registry", train_threads=1))
    dataset = Dataset(train.reset_index(drop=True), "0" * 64, "penguins.csv", "csv", 1)
    service.train(dataset, target="species", name="penguins", params={"n_estimators": 60})
    with run_gunicorn(root, DSBA_REGISTRY_DIR=str(root / "registry")) as server:
        yield holdout.reset_index(drop=True), server


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def _send(url: str, frame: pd.DataFrame) -> tuple[list[str], str, str]:
    """Score frame through /api/predict; return its ids and a window holding only them."""
    since = datetime.now(UTC).isoformat()
    answer = requests.post(
        f"{url}/api/predict", json={"model": "penguins", "records": _records(frame)}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    time.sleep(0.01)
    until = datetime.now(UTC).isoformat()
    return [p["id"] for p in answer.json()["predictions"]], since, until


def _report(client: Client, since: str, until: str, rows: int) -> dict:
    """The report once the workers have flushed every row of the window (about a second)."""
    for _ in range(100):
        report = client.monitoring("penguins", since, until)
        if report["window"]["rows"] >= rows:
            return report
        time.sleep(0.1)
    raise AssertionError(f"the window holds {report['window']['rows']} of {rows} rows")


def _cli(*args: str, registry=None) -> dict | str:
    env = {"DSBA_REGISTRY_DIR": str(registry)} if registry else {}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_held_out_rows_are_ok_and_a_feature_times_three_drifts_first(holdout_and_server):
    holdout, server = holdout_and_server
    client = Client(server.url)
    _, since, until = _send(server.url, holdout)
    clean = _report(client, since, until, len(holdout))
    assert clean["window"]["rows"] == len(holdout)
    assert clean["status"] == "ok", [f for f in clean["features"] if f["drifted"]]
    assert not any(f["drifted"] for f in clean["features"])

    shifted = holdout.copy()
    shifted[SHIFTED] = shifted[SHIFTED] * 3
    _, since, until = _send(server.url, shifted)
    moved = _report(client, since, until, len(holdout))
    assert moved["status"] == "drift"
    assert moved["features"][0]["name"] == SHIFTED and moved["features"][0]["drifted"]

    window = ["--since", since, "--until", until]
    for where in (["--remote", server.url], []):
        cli = _cli("monitor", "penguins", *window, "--json", *where, registry=server.registry_dir)
        assert cli["status"] == "drift" and cli["features"][0]["name"] == SHIFTED
        assert cli["window"]["rows"] == len(holdout)
    table = _cli("monitor", "penguins", *window, "--remote", server.url)
    assert "status: drift" in table
    first_row = table.split("drift  issues\n")[1].splitlines()[0]
    assert first_row.startswith(SHIFTED) and " YES " in first_row


def _accuracy_by_hand(exported: pd.DataFrame) -> float:
    labelled = exported[exported["label"].notna()]
    return float((labelled["prediction"] == labelled["label"]).mean())


@pytest.mark.parametrize("where", ["local", "remote"])
def test_feedback_from_a_file_gives_the_live_accuracy_of_the_export(
    holdout_and_server, tmp_path, where
):
    holdout, server = holdout_and_server
    ids, since, until = _send(server.url, holdout)
    client = Client(server.url)
    _report(client, since, until, len(holdout))
    truth = pd.read_csv(io.StringIO(palmerpenguins.load_penguins().to_csv(index=False)))
    labels = truth.loc[:, "species"].sample(len(ids), random_state=1).tolist()  # some wrong
    rows = [{"prediction_id": i, "truth": lab} for i, lab in zip(ids, labels, strict=True)]
    rows += [
        {"prediction_id": "01hf7yat00jhbs076n2s2n0000002a", "truth": "Adelie"},
        {"prediction_id": ids[0], "truth": "Dodo"},
    ]
    path = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    args = ["feedback", "penguins", str(path), "--id-column", "prediction_id"]
    args += ["--label-column", "truth", "--json"]
    remote = ["--remote", server.url] if where == "remote" else []
    answer = _cli(*args, *remote, registry=server.registry_dir)
    assert answer["accepted"] == len(ids) and answer["unmatched"] == 1
    assert [e["index"] for e in answer["invalid"]] == [len(ids) + 1]

    report = client.monitoring("penguins", since, until)
    csv = client.predictions("penguins", since, until, limit=100_000, format="csv")
    parquet = client.predictions("penguins", since, until, format="parquet")
    records = client.predictions("penguins", since, until)
    from_csv = pd.read_csv(io.BytesIO(csv), dtype=str)
    from_parquet = pq.read_table(io.BytesIO(parquet)).to_pandas()
    expected = _accuracy_by_hand(from_csv)
    assert expected == _accuracy_by_hand(from_parquet)
    assert expected == _accuracy_by_hand(pd.DataFrame(records))
    assert 0.2 < expected < 0.9  # the labels were shuffled: some right, some wrong
    live = report["performance"]["live"]
    assert live["rows"] == len(ids)
    assert live["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_feedback_without_a_model_through_the_api(holdout_and_server):
    holdout, server = holdout_and_server
    ids, since, until = _send(server.url, holdout.head(20))
    _report(Client(server.url), since, until, 20)
    items = [{"id": i, "label": "Gentoo"} for i in ids] + [{"id": ids[0], "label": "Rock"}]
    answer = requests.post(f"{server.url}/api/feedback", json={"feedback": items}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 20 and answer.json()["unmatched"] == 0
    assert answer.json()["invalid"][0]["index"] == 20
    exported = pd.DataFrame(Client(server.url).predictions("penguins", since, until))
    assert (exported["label"] == "Gentoo").all()
