"""dsba.client and `dsba --remote` against the real gunicorn."""

from __future__ import annotations

import hashlib
import io
import json

import palmerpenguins
import pandas as pd
import pytest
from click.testing import CliRunner

from dsba.cli import main
from dsba.client import Client, JobFailed, Unauthorized, Unreachable
from dsba.errors import Conflict, InvalidInput, NotFound, TooLarge

SPECIES = {"Adelie", "Chinstrap", "Gentoo"}
FAST = {"n_estimators": 20}


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """The palmerpenguins table."""
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def penguins_csv(penguins, tmp_path_factory):
    """The table as a CSV file."""
    path = tmp_path_factory.mktemp("client") / "penguins.csv"
    penguins.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def client(live_server):
    """A client of the module's server."""
    with Client(live_server.url) as api:
        yield api


@pytest.fixture(scope="module")
def trained(client, penguins_csv):
    """Train penguins from a local file (uploaded by the client), waiting with progress."""
    rounds: list[tuple[int, int]] = []
    meta = client.train(
        str(penguins_csv),
        target="species",
        name="penguins",
        params=FAST,
        progress=lambda done, total: rounds.append((done, total)),
        poll=0.1,
    )
    return meta, rounds


def test_train_uploads_waits_and_returns_the_metadata(trained):
    meta, rounds = trained
    assert (meta["name"], meta["version"], meta["target"]) == ("penguins", 1, "species")
    assert meta["metrics"]["accuracy"] >= 0.9
    assert rounds and all(total == FAST["n_estimators"] for _, total in rounds)
    assert [done for done, _ in rounds] == sorted({done for done, _ in rounds})


def test_models_metadata_jobs_and_datasets(client, trained):
    assert [(m["name"], m["latest_version"]) for m in client.list_models()] == [("penguins", 1)]
    assert client.metadata("penguins:1")["metrics"] == trained[0]["metrics"]
    job = client.jobs()[0]
    assert job["state"] == "succeeded" and client.job(job["id"])["model"] == "penguins:1"
    dataset = client.datasets()[0]
    assert client.dataset(dataset["id"])["rows"] == 344


def test_predict_records_and_frames(client, trained, penguins):
    features = penguins.drop(columns=["species"]).head(40)
    records = features.to_dict(orient="records")  # NaN for missing values, as pandas gives
    answer = client.predict("penguins", records)
    assert answer["model"] == "penguins:1" and len(answer["predictions"]) == 40
    from_frame = client.predict("penguins", features)
    assert _without_ids(from_frame["predictions"]) == _without_ids(answer["predictions"])

    result = client.predict_frame("penguins", features)

    assert result.model == "penguins:1" and result.warnings == answer["warnings"]
    # Row 3 of palmerpenguins has only island and year: flagged, by the server and the client.
    assert answer["predictions"][3]["unreliable"] is True
    assert result.labels == [p["label"] for p in answer["predictions"]]
    assert set(result.labels) <= SPECIES
    assert _without_ids(result.records()) == _without_ids(answer["predictions"])
    # Each call's rows went to the server's prediction log under ids of their own.
    assert len(set(result.ids) | {p["id"] for p in answer["predictions"]}) == 80
    scored = result.to_frame(features)
    assert scored["id"].tolist() == result.ids
    assert list(scored.columns[-4:]) == [
        "prediction",
        "probability_Adelie",
        "probability_Chinstrap",
        "probability_Gentoo",
    ]
    assert (scored["prediction"] == penguins["species"].head(40)).mean() >= 0.9


def _without_ids(predictions: list[dict]) -> list[dict]:
    """Predictions without their log ids (which differ from call to call)."""
    return [{k: v for k, v in p.items() if k != "id"} for p in predictions]


def test_alias_and_delete(client, trained, penguins_csv):
    second = client.train(penguins_csv, target="species", name="penguins", params=FAST, seed=3)
    assert second["version"] == 2
    assert client.set_alias("penguins", "prod", 1) == {"name": "penguins", "aliases": {"prod": 1}}
    assert client.metadata("penguins@prod")["version"] == 1
    assert client.delete("penguins:2") == {"deleted": "penguins:2"}
    with pytest.raises(NotFound):
        client.metadata("penguins:2")
    with pytest.raises(InvalidInput, match="exact version"):
        client.delete("penguins")


def test_server_errors_become_dsba_errors_with_the_server_message(client, trained, penguins):
    record = penguins.drop(columns=["species"]).head(1).to_dict(orient="records")[0]
    with pytest.raises(NotFound, match="'nope'"):
        client.metadata("nope")
    with pytest.raises(InvalidInput, match="invalid model reference"):
        client.metadata("Bad Ref")
    with pytest.raises(InvalidInput, match="missing feature columns: island") as caught:
        client.predict("penguins", [{k: v for k, v in record.items() if k != "island"}])
    assert caught.value.errors == {"missing_columns": ["island"]}
    with pytest.raises(TooLarge, match="batch limit"):
        client.predict("penguins", [record] * 10_001)
    with pytest.raises(NotFound):
        client.train("0123456789abcdef", target="species", name="x")
    with pytest.raises(InvalidInput, match="target column 'beak' not found"):
        client.train(io.BytesIO(b"a,b\n1,2\n3,4\n"), target="beak", name="x")


def test_a_failed_job_raises_job_failed(client, penguins_csv):
    # Body mass trains a regressor now; as classes it passes the request's checks and the job
    # refuses it ("looks continuous").
    job = client.train(
        penguins_csv,
        target="body_mass_g",
        name="mass",
        params=FAST,
        wait=False,
        task="classification",
    )
    assert job["state"] == "queued"
    with pytest.raises(JobFailed, match="body_mass_g") as caught:
        client.wait(job["id"], poll=0.1)
    assert caught.value.job["state"] == "failed"


def test_too_many_jobs_is_a_conflict(client, penguins_csv):
    dataset_id = client.upload(penguins_csv)["id"]
    started = [
        client.train(dataset_id, target="species", name="busy", params=FAST, wait=False)
        for _ in range(2)
    ]
    with pytest.raises(Conflict, match="already running"):
        client.train(dataset_id, target="species", name="busy", params=FAST, wait=False)
    for job in started:
        client.wait(job["id"], poll=0.1)


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(Unreachable, match="cannot reach"):
        Client("http://127.0.0.1:9", timeout=2).list_models()


def run_cli(*args: str):
    """Run the dsba command line in this process; exceptions surface, not exit codes."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stderr
    return result


def test_the_cli_works_remotely(live_server, trained, penguins_csv, tmp_path):
    remote = ("--remote", live_server.url)
    trained_cli = run_cli(
        *remote,
        "train",
        str(penguins_csv),
        "--target",
        "species",
        "--name",
        "remote",
        "--param",
        "n_estimators=20",
    )
    assert trained_cli.exit_code == 0, trained_cli.stderr
    assert trained_cli.stdout.startswith("trained remote:1 in ")
    listed = run_cli(*remote, "models", "list")
    assert "remote" in listed.stdout and "penguins" in listed.stdout
    out = tmp_path / "scored.csv"
    scored = run_cli(*remote, "predict", "remote:1", str(penguins_csv), "-o", str(out))
    assert scored.exit_code == 0, scored.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 344 and (frame["prediction"] == frame["species"]).mean() >= 0.9
    shown = run_cli(*remote, "models", "show", "remote")
    assert "remote:1 target=species" in shown.stdout
    missing = run_cli(*remote, "models", "show", "nope")
    assert missing.exit_code == 4 and "error: model 'nope' not found" in missing.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["models", "list"],
        ["models", "show", "penguins:1"],
        ["jobs", "list"],
        ["predict", "penguins:1", "{csv}"],
    ],
)
def test_remote_and_json_after_the_command_print_what_they_print_before_it(
    command, live_server, trained, penguins_csv
):
    args = [word.format(csv=penguins_csv) for word in command]
    before = run_cli("--remote", live_server.url, "--json", *args)
    after = run_cli(*args, "--remote", live_server.url, "--json")
    assert before.exit_code == after.exit_code == 0, after.stderr
    assert before.stderr == after.stderr
    # The server logs what it scores: each answer names its own rows' log ids.
    assert _answer_without_ids(json.loads(before.stdout)) == _answer_without_ids(
        json.loads(after.stdout)
    )


def _answer_without_ids(payload):
    """payload with the prediction ids dropped (every scoring request gets new ones)."""
    if isinstance(payload, dict) and "predictions" in payload:
        ids = [row.pop("id") for row in payload["predictions"]]
        assert len(set(ids)) == len(ids)
    return payload


def test_train_takes_remote_and_json_after_the_command(live_server, trained, penguins_csv):
    args = ["train", str(penguins_csv), "--target", "species", "--name", "after"]
    args += ["--param", "n_estimators=20"]
    after = run_cli(*args, "--remote", live_server.url, "--json")
    before = run_cli("--json", "--remote", live_server.url, *args)
    assert before.exit_code == after.exit_code == 0, after.stderr
    first, second = json.loads(after.stdout), json.loads(before.stdout)
    assert (first["name"], first["version"], second["version"]) == ("after", 1, 2)
    assert first["metrics"] == second["metrics"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_tokens_are_sent_and_refusals_are_clear(start_gunicorn):
    tokens = f"ann:reader:{_hash('reader-token')},bob:writer:{_hash('writer-token')}"
    server = start_gunicorn(DSBA_API_TOKENS=tokens)
    with pytest.raises(Unauthorized, match="missing or invalid API token"):
        Client(server.url).list_models()
    with pytest.raises(Unauthorized, match="invalid"):
        Client(server.url, token="wrong").list_models()
    reader = Client(server.url, token="reader-token")
    assert reader.list_models() == []
    with pytest.raises(Unauthorized, match="ann"):
        reader.train(io.BytesIO(b"a,b\n1,x\n2,y\n"), target="b", name="x")
    assert Client(server.url, token="writer-token").list_models() == []
    refused = run_cli("--remote", server.url, "models", "list")
    assert refused.exit_code != 0 and "--token" in refused.stderr

    # --token after the command, the nearest one winning; DSBA_TOKEN stands for it.
    before = run_cli("--remote", server.url, "--token", "reader-token", "--json", "models", "list")
    after = run_cli("models", "list", "--remote", server.url, "--token", "reader-token", "--json")
    assert before.exit_code == after.exit_code == 0, after.stderr
    assert before.stdout == after.stdout == "[]\n"
    remote = ("--remote", server.url)
    nearest = run_cli("--token", "wrong", "jobs", "list", *remote, "--token", "reader-token")
    assert (nearest.exit_code, nearest.stdout) == (0, "no jobs yet\n")
    farther = run_cli("--token", "reader-token", "jobs", "list", *remote, "--token", "wrong")
    assert farther.exit_code != 0 and "invalid" in farther.stderr
    from_env = CliRunner().invoke(
        main, ["models", "list", *remote, "--json"], env={"DSBA_TOKEN": "reader-token"}
    )
    assert (from_env.exit_code, from_env.stdout) == (0, "[]\n")
