"""`dsba predict --log` writes the rows to the prediction log and gives each an id column."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from dsba.monitoring import layout


def _logged(registry) -> pd.DataFrame:
    folder = layout.log_dir(registry, "penguins", 1)
    files = [f for day in sorted(folder.glob("*")) for f in layout.live_files(day)]
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def test_predict_with_log_writes_every_row_and_an_id_column(
    cli, penguins_registry, penguins_csv, tmp_path
):
    out = tmp_path / "scored.csv"
    result = cli(
        penguins_registry, "predict", "penguins", str(penguins_csv), "-o", str(out), "--log"
    )

    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(out)
    logged = _logged(penguins_registry)
    assert scored.columns[0] == "id"
    assert logged["id"].tolist() == scored["id"].tolist()
    assert set(logged["source"]) == {"cli"} and len(logged) == 344
    assert logged["prediction"].tolist() == scored["prediction"].tolist()


def test_predict_without_log_writes_no_log_and_no_id(cli, penguins_registry, penguins_csv):
    result = cli(penguins_registry, "predict", "penguins", str(penguins_csv))

    assert result.exit_code == 0, result.stderr
    assert not result.stdout.startswith("id,")
    assert not (penguins_registry / layout.MONITORING_DIR).exists()


def test_predict_with_log_on_a_remote_server_is_refused(cli, penguins_registry, penguins_csv):
    result = cli(
        penguins_registry,
        "--remote",
        "http://127.0.0.1:9",
        "predict",
        "penguins",
        str(penguins_csv),
        "--log",
    )

    assert result.exit_code == 3
    assert "--log scores locally" in result.stderr
