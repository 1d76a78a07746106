"""`dsba predict --remote URL --job` and Client.score_file against the real gunicorn."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from passengers import passengers

from dsba.cli import main
from dsba.client import Client
from dsba.config import Settings
from dsba.errors import InvalidInput
from dsba.service import LocalService

ROWS = 12_000  # over the server's batch limit of 10,000 rows


@pytest.fixture(scope="module")
def titanic(live_server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """'titanic' trained into the live server's store."""
    path = tmp_path_factory.mktemp("titanic") / "passengers.csv"
    passengers().to_csv(path, index=False)
    service = LocalService(Settings(registry_dir=live_server.registry_dir, train_threads=1))
    service.train(str(path), target="survived", name="titanic", params={"n_estimators": 20})
    return "titanic"


def test_the_cli_scores_a_big_file_as_a_server_job(live_server, titanic, tmp_path):
    data = tmp_path / "people.csv"
    passengers(rows=ROWS, seed=2).to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(
        main, ["--remote", live_server.url, "predict", titanic, str(data), "--job", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {ROWS} rows scored by titanic:1 to {out}; accuracy on {ROWS}" in result.output
    scored = pd.read_csv(out)
    assert len(scored) == ROWS and "probability_yes" in scored.columns


def test_the_client_writes_the_scored_file(live_server, titanic, tmp_path):
    data = tmp_path / "people.parquet"
    passengers(rows=500, seed=3).drop(columns="survived").to_parquet(data)
    seen: list[tuple[int, int]] = []
    with Client(live_server.url) as client:
        job = client.score_file(
            titanic, data, tmp_path / "o.csv", explain=True, progress=lambda *p: seen.append(p)
        )
    assert job["result"]["rows"] == 500 and "metrics" not in job["result"]
    assert "top_feature_1" in pd.read_csv(tmp_path / "o.csv").columns
    assert not seen or seen[-1][1] == 500


def test_job_needs_a_server_and_a_csv_out(tmp_path):
    result = CliRunner().invoke(main, ["predict", "titanic", "x.csv", "--job", "-o", "o.csv"])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput) or "--remote" in result.output
