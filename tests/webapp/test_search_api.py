"""A time-budgeted search over the API and the client, on the real gunicorn; bad values refused."""

from __future__ import annotations

import io
import re

import palmerpenguins
import pytest
import requests
from click.testing import CliRunner

from dsba.cli import main
from dsba.client import Client
from dsba.config import Settings
from tests.page_text import by_testid
from webapp import create_app


@pytest.fixture(scope="module")
def http():
    """A requests session that ignores proxies from the shell."""
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.fixture(scope="module")
def penguins_id(training_server, http) -> str:
    """The penguins table, uploaded once."""
    data = io.BytesIO(palmerpenguins.load_penguins().to_csv(index=False).encode())
    reply = http.post(
        f"{training_server.url}/api/datasets", files={"file": ("penguins.csv", data)}, timeout=60
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def test_a_search_reports_trials_time_left_and_best_then_keeps_its_leaderboard(
    training_server, http, penguins_id
):
    records, rounds = [], []
    with Client(training_server.url) as client:
        meta = client.train(
            penguins_id,
            target="species",
            name="searched",
            time_budget=10,
            optimize="balanced_accuracy",
            search_progress=records.append,
            progress=lambda done, total: rounds.append(done),
            poll=0.1,
        )
        job = client.jobs()[0]
    # The job record carried the search's progress through the API, then the refit's rounds.
    assert records, "no search progress was seen on the job record"
    assert {"trial", "total", "seconds_left", "best", "metric"} <= set(records[-1])
    assert all(r["metric"] == "balanced_accuracy" and r["total"] is None for r in records)
    lefts = [r["seconds_left"] for r in records]
    assert lefts == sorted(lefts, reverse=True) and 0 <= lefts[-1] <= 10
    assert rounds and rounds[-1] == meta["best_iteration"] + 1
    assert job["request"]["time_budget"] == 10 and "trials" not in job["request"]
    search = meta["search"]
    assert (search["optimize"], search["time_budget"], search["trials"]) == (
        "balanced_accuracy",
        10,
        None,
    )
    board = search["leaderboard"]
    assert search["trials_done"] >= len(board) >= 1
    assert board[0]["trial"] == search["winner"]["trial"]
    # Complete trials first, best first; a pruned trial's score is a partial one, after them.
    complete = [r["score"] for r in board if r["state"] == "complete"]
    assert complete[0] == max(complete) == search["winner"]["score"]
    # The winner was refit on every training row: the page says so, not "0 validation".
    rows = meta["dataset"]["rows"]
    assert rows["validation"] == 0
    page = http.get(f"{training_server.url}/models/searched", timeout=30).text
    assert by_testid(page, "dataset-rows") == (
        f"{rows['total']} total, {rows['labelled']} labelled: {rows['train']} train "
        f"(the search's winner was refit on all of them), {rows['test']} test"
    )


def test_training_without_a_search_records_none_and_the_page_shows_none(
    training_server, http, penguins_id
):
    with Client(training_server.url) as client:
        meta = client.train(penguins_id, target="species", name="plain", params={"n_estimators": 5})
    assert "search" not in meta
    page = http.get(f"{training_server.url}/models/plain", timeout=30).text
    assert 'data-testid="metric-cards"' in page and 'data-testid="leaderboard"' not in page
    rows = meta["dataset"]["rows"]
    assert rows["validation"] > 0
    assert f"{rows['train']} train, {rows['validation']} validation, {rows['test']} test" in (
        by_testid(page, "dataset-rows")
    )


def test_the_cli_searches_remotely_with_trials_and_the_page_folds_all_but_20(
    training_server, http, tmp_path
):
    path = tmp_path / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(path, index=False)
    args = ["--remote", training_server.url, "train", str(path), "--target", "species"]
    result = CliRunner().invoke(main, [*args, "--name", "remote", "--trials", "22"])
    assert result.exit_code == 0, result.output
    assert "searched 22 trials in " in result.stdout
    # The best 20 trials show; the other two fold away, closed, ranked on after them.
    page = http.get(f"{training_server.url}/models/remote", timeout=30).text
    shown = _table(page, "leaderboard")
    folded = r'<details([^>]*data-testid="leaderboard-more"[^>]*)>(.*?)</details>'
    more = re.search(folded, page, re.S)
    assert more and " open" not in more[1], "the other trials are folded away at first"
    assert "The other 2 trials" in more[2]
    assert _ranks(shown) == list(range(1, 21))
    assert _ranks(_table(more[2], "leaderboard-rest")) == [21, 22]


def _table(page: str, testid: str) -> str:
    found = re.search(rf'<table[^>]*data-testid="{testid}"[^>]*>(.*?)</table>', page, re.S)
    assert found, f"no {testid} table"
    return found[1]


def _ranks(table: str) -> list[int]:
    """The Rank column of a leaderboard table's rows."""
    rows = re.findall(r"<tr[^>]*data-trial=[^>]*>\s*<td[^>]*>(\d+)</td>", table)
    return [int(rank) for rank in rows]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_budget": -1}, "time_budget"),
        ({"time_budget": 5}, "time_budget"),
        ({"time_budget": "soon"}, "time_budget"),
        ({"trials": "x"}, "trials"),
        ({"trials": 0}, "trials"),
        ({"trials": 2.5}, "trials"),
        ({"target": "species", "optimize": "rmse"}, "optimize"),
        ({"target": "body_mass_g", "optimize": "accuracy"}, "optimize"),
    ],
)
def test_a_bad_search_is_a_400_naming_the_field_and_starts_no_job(
    training_server, http, penguins_id, body, field
):
    before = http.get(f"{training_server.url}/api/jobs", timeout=10).json()
    reply = http.post(
        f"{training_server.url}/api/train",
        json={"dataset_id": penguins_id, "target": "species", "name": "bad", **body},
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert (error["code"], error["status"]) == (400, "Bad Request")
    assert field in error["errors"] and field in error["message"]
    assert http.get(f"{training_server.url}/api/jobs", timeout=10).json() == before


@pytest.mark.parametrize("body", [{"trials": 3}, {"time_budget": 60}])
def test_the_dask_path_refuses_a_search_before_a_job_starts(tmp_path, body):
    pytest.importorskip("distributed")
    # Nothing listens there: the refusal must come before any attempt to reach it.
    settings = Settings(registry_dir=tmp_path, dask_scheduler="tcp://127.0.0.1:9", dask_min_bytes=0)
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    data = io.BytesIO(palmerpenguins.load_penguins().to_csv(index=False).encode())
    dataset = client.post("/api/datasets", data={"file": (data, "penguins.csv")}).get_json()
    reply = client.post(
        "/api/train",
        json={"dataset_id": dataset["id"], "target": "species", "name": "big", **body},
    )
    assert reply.status_code == 400, reply.get_data(as_text=True)
    error = reply.get_json()
    assert set(body) & set(error["errors"]) and "Dask" in error["message"]
    assert client.get("/api/jobs").get_json() == []
