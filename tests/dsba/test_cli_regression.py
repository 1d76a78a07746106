"""The dsba command line with a regression: train, models list/show, predict with intervals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dsba.cli_options import EXIT_CODES
from dsba.errors import InvalidInput

INVALID = EXIT_CODES[InvalidInput]


@pytest.fixture(scope="module")
def mass_csv(tmp_path_factory, penguins_frame):
    path = tmp_path_factory.mktemp("mass") / "penguins.csv"
    penguins_frame.to_csv(path, index=False)
    return path


def test_train_show_list_and_predict_a_regressor(tmp_path, mass_csv, cli):
    registry = tmp_path / "registry"
    args = ("train", str(mass_csv), "--target", "body_mass_g", "--name", "mass")
    trained = cli(registry, *args, "--param", "n_estimators=40", "--interval", "0.8")
    assert trained.exit_code == 0, trained.stderr
    assert trained.stdout.startswith("trained mass:1 in ")
    assert "rmse=" in trained.stdout and "r2=" in trained.stdout
    assert "interval_coverage=" in trained.stdout and "mean baseline rmse=" in trained.stdout

    shown = cli(registry, "models", "show", "mass")
    assert "task=regression interval=0.8" in shown.stdout
    meta = json.loads(cli(registry, "--json", "models", "show", "mass").stdout)
    assert meta["task"] == "regression" and meta["intervals"]["coverage"] == 0.8
    assert " regression " in cli(registry, "models", "list").stdout

    new = tmp_path / "new.csv"
    pd.read_csv(mass_csv).drop(columns="body_mass_g").head(6).to_csv(new, index=False)
    out = tmp_path / "scored.csv"
    scored = cli(registry, "predict", "mass", str(new), "-o", str(out))
    assert scored.exit_code == 0, scored.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns[-5:]) == [
        "prediction",
        "prediction_lower",
        "prediction_upper",
        "unseen_features",
        "warnings",
    ]
    assert (frame["prediction_lower"] <= frame["prediction"]).all()
    assert (frame["prediction"] <= frame["prediction_upper"]).all()
    answer = json.loads(cli(registry, "--json", "predict", "mass", str(new)).stdout)
    assert set(answer["predictions"][0]) == {"value", "interval"}


def test_a_rating_is_a_classifier_unless_asked(tmp_path, mass_csv, cli):
    registry = tmp_path / "registry"
    args = ("train", str(mass_csv), "--target", "year", "--param", "n_estimators=20")
    as_classes = cli(registry, *args, "--name", "years", "--json")
    assert json.loads(as_classes.stdout)["task"] == "multiclass"
    as_values = cli(registry, *args, "--name", "years", "--task", "regression", "--json")
    assert json.loads(as_values.stdout)["task"] == "regression"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--target", "species", "--task", "regression"], "holds text or true/false values"),
        (["--target", "body_mass_g", "--interval", "0.3"], "interval must be between 0.5"),
        (["--target", "body_mass_g", "--task", "classification"], "looks continuous"),
    ],
)
def test_bad_regression_options_exit_3_and_store_nothing(
    options, message, tmp_path, mass_csv, cli, snapshot
):
    registry = tmp_path / "registry"
    result = cli(registry, "train", str(mass_csv), "--name", "m", *options)
    assert result.exit_code == INVALID
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")
    assert message in result.stderr
    assert snapshot(registry) == {}
