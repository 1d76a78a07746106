"""The dsba command line end to end: penguins, model lifecycle, bad inputs and exit codes."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dsba.cli import EPILOG, main
from dsba.cli_options import EXIT_CODES, LocalCommand
from dsba.errors import InvalidInput, NotFound

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECIES = {"Adelie", "Chinstrap", "Gentoo"}
INVALID, NOT_FOUND = EXIT_CODES[InvalidInput], EXIT_CODES[NotFound]


def error_line(stderr: str) -> str:
    """Return the single 'error: ...' line of stderr; fail if there is not exactly one."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    assert stderr.rstrip().splitlines()[-1] == lines[0], "the error is the last thing printed"
    assert "Traceback" not in stderr
    return lines[0]


def test_exit_codes_are_documented():
    assert (INVALID, NOT_FOUND) == (3, 4)
    assert "3 invalid input" in EPILOG and "4 not found" in EPILOG


def test_train_penguins_reaches_the_accuracy_target(penguins_trained, cli):
    registry, trained = penguins_trained
    assert (trained["name"], trained["version"]) == ("penguins", 1)
    assert trained["metrics"]["accuracy"] >= 0.95
    assert trained["metrics"]["accuracy"] > trained["metrics"]["baseline_accuracy"]
    assert {"island", "sex", "bill_length_mm"} <= set(trained["features"])
    assert "species" not in trained["features"]
    shown = cli(registry, "--json", "models", "show", "penguins")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["metrics"] == trained["metrics"]


def test_train_prints_a_summary_and_adds_a_version(penguins_registry, penguins_csv, cli):
    args = ("train", str(penguins_csv), "--target", "species", "--name", "penguins")
    result = cli(penguins_registry, *args, "--param", "n_estimators=30", "--seed", "7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("trained penguins:2 in ")
    assert "accuracy=" in result.stdout and "majority baseline" in result.stdout
    shown = json.loads(cli(penguins_registry, "--json", "models", "show", "penguins").stdout)
    assert (shown["version"], shown["seed"], shown["params"]["n_estimators"]) == (2, 7, 30)


def same_values(left: pd.Series, right: pd.Series) -> bool:
    """True if two columns hold equal values row by row (missing equals missing)."""
    left, right = left.astype(object).reset_index(drop=True), right.astype(object)
    return bool(((left.isna() & right.isna()) | (left == right)).all())


def _read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_predict_adds_labels_and_probabilities_in_row_order(
    penguins_trained, penguins_csv, penguins_frame, tmp_path, cli, suffix
):
    out = tmp_path / f"scored{suffix}"
    result = cli(penguins_trained[0], "predict", "penguins", str(penguins_csv), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"wrote {len(penguins_frame)} rows scored by penguins:1" in result.stderr
    scored = _read_output(out)
    proba_columns = [f"probability_{name}" for name in sorted(SPECIES)]
    flags = ["unseen_features", "warnings"]
    assert list(scored.columns) == [*penguins_frame.columns, "prediction", *proba_columns, *flags]
    assert len(scored) == len(penguins_frame)
    # Rows with most of the 7 features missing are flagged; every value is a known one.
    assert (scored["unseen_features"] == 0).all()
    mostly_missing = penguins_frame.drop(columns="species").isna().sum(axis=1) >= 4
    flagged = scored["warnings"].fillna("").str.startswith("unreliable")
    assert flagged.tolist() == mostly_missing.tolist() and flagged.sum() == 2
    assert set(scored["prediction"]) <= SPECIES and scored["prediction"].notna().all()
    # Input columns come back untouched and in the input's row order.
    for column in penguins_frame.columns:
        assert same_values(scored[column], penguins_frame[column]), column
    proba = scored[proba_columns].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    winners = np.array(sorted(SPECIES))[proba.argmax(axis=1)]
    assert (winners == scored["prediction"].to_numpy()).all()
    # Row by row the labels match the species: a shuffled output would not.
    assert (scored["prediction"] == penguins_frame["species"]).mean() >= 0.95


def test_predict_json_to_stdout_parses(penguins_trained, penguins_csv, penguins_frame, cli):
    result = cli(penguins_trained[0], "--json", "predict", "penguins:1", str(penguins_csv))
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["model"] == "penguins:1"
    assert len(body["predictions"]) == len(penguins_frame)
    first = body["predictions"][0]
    assert first["label"] in SPECIES and set(first["probabilities"]) == SPECIES
    # Rows 3 and 271 of palmerpenguins have only island and year.
    # One test row has a bill shorter than any the model was trained on.
    assert body["warnings"] == [
        "2 rows have most of the 7 features unseen or missing; "
        "their predictions rest on the few left (rows [3, 271])",
        "values outside the training range, where the model extrapolates: "
        "bill_length_mm in 1 row (e.g. 32.1; trained on 33.1 to 59.6)",
    ]
    assert body["predictions"][3]["unreliable"] is True


def test_predict_csv_to_stdout_reports_extra_columns(penguins_trained, tmp_path, cli):
    data = tmp_path / "new.csv"
    data.write_text(
        "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year,note\n"
        "Biscoe,47.5,14.2,215,5000,female,2008,x\n"
        "Torgersen,38.9,18.0,185,3600,male,2007,y\n"
    )
    result = cli(penguins_trained[0], "predict", "penguins", str(data))
    assert result.exit_code == 0, result.stderr
    assert "warning: ignored columns not used by the model: note" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(
        ",note,prediction,probability_Adelie,probability_Chinstrap,probability_Gentoo"
        ",unseen_features,warnings"
    )
    assert [line.split(",")[8] for line in lines[1:]] == ["Gentoo", "Adelie"]


def test_models_list_show_alias_delete(penguins_registry, cli):
    listed = cli(penguins_registry, "--json", "models", "list")
    assert [m["name"] for m in json.loads(listed.stdout)] == ["penguins"]
    assert cli(penguins_registry, "models", "list").stdout.startswith("penguins ")
    shown = cli(penguins_registry, "models", "show", "penguins:1")
    assert shown.exit_code == 0 and shown.stdout.startswith("penguins:1 target=species")

    aliased = cli(penguins_registry, "models", "alias", "penguins", "prod", "1")
    assert (aliased.exit_code, aliased.stdout.strip()) == (0, "penguins@prod -> 1")
    by_alias = json.loads(
        cli(penguins_registry, "--json", "models", "show", "penguins@prod").stdout
    )
    assert (by_alias["name"], by_alias["version"]) == ("penguins", 1)
    listed = json.loads(cli(penguins_registry, "--json", "models", "list").stdout)
    assert listed[0]["aliases"] == {"prod": 1}

    broad = cli(penguins_registry, "models", "delete", "penguins")
    assert broad.exit_code == INVALID and "exact version" in error_line(broad.stderr)
    deleted = cli(penguins_registry, "models", "delete", "penguins:1")
    assert (deleted.exit_code, deleted.stdout.strip()) == (0, "deleted penguins:1")
    for ref in ("penguins:1", "penguins@prod", "penguins"):
        gone = cli(penguins_registry, "models", "show", ref)
        assert gone.exit_code == NOT_FOUND, ref
        error_line(gone.stderr)
    assert cli(penguins_registry, "models", "list").stdout.strip() == "no models yet"


def test_dsba_cli_is_an_alias_of_dsba(tmp_path, penguins_trained):
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["dsba"] == scripts["dsba_cli"] == "dsba.cli:main"
    alias = Path(sys.executable).parent / "dsba_cli"
    env = {"DSBA_REGISTRY_DIR": str(penguins_trained[0]), "PATH": str(alias.parent)}
    shown = subprocess.run(
        [str(alias), "models", "show", "penguins"], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("penguins:1 target=species")
    # A real process: bad data gives one line and the documented code, never a traceback.
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    failed = subprocess.run(
        [str(alias), "train", str(junk), "--target", "y", "--name", "m"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == INVALID
    assert "binary" in error_line(failed.stderr)


def _rows(header: str, make_row, n: int = 60) -> bytes:
    return (header + "\n" + "".join(make_row(i) + "\n" for i in range(n))).encode()


RNG = np.random.default_rng(0)
NOISE = RNG.normal(size=60).round(3)
BAD_TRAINING_DATA = {
    "empty file": (b"", "y", "file is empty"),
    "whitespace only": (b"\n  \n", "y", "file is empty"),
    "binary": (RNG.bytes(4096) + b"\x00", "y", "binary"),
    "png header": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "y", "binary"),
    "latin-1 text": (b"city,y\ncaf\xe9,a\nbar,b\n", "y", "not UTF-8 text: byte 0xe9 on line 2"),
    "missing target": (
        _rows("a,b", lambda i: f"{NOISE[i]},{i % 2}"),
        "y",
        "target column 'y' not found; columns are: a, b",
    ),
    "single class": (
        _rows("a,y", lambda i: f"{NOISE[i]},yes"),
        "y",
        "single class ('yes')",
    ),
    # A continuous target trains a regressor now; one with an infinity cannot.
    "infinite target": (
        _rows("a,y", lambda i: f"{i % 5},{'inf' if i == 7 else NOISE[i] * 7.3}"),
        "y",
        "target column 'y' has an infinite value (inf on row 7)",
    ),
    "only feature all missing": (
        _rows("a,y", lambda i: f",{'ab'[i % 2]}"),
        "y",
        "no usable feature columns remain (a: empty",
    ),
    "header only": (b"a,b,y\n", "y", "header but no data rows"),
    "ragged rows": (b"a,b,y\n1,2,x\n3,4\n5,6,y\n", "y", "CSV cannot be parsed"),
    "duplicate columns": (b"a,a,y\n1,2,x\n3,4,y\n", "y", "duplicate column names: a"),
}


@pytest.mark.parametrize("case", list(BAD_TRAINING_DATA))
def test_bad_training_data_is_one_error_line_and_leaves_the_store_alone(
    case, penguins_registry, tmp_path, cli, snapshot
):
    content, target, message = BAD_TRAINING_DATA[case]
    data = tmp_path / "data.csv"
    data.write_bytes(content)
    before = snapshot(penguins_registry)
    result = cli(penguins_registry, "train", str(data), "--target", target, "--name", "penguins")
    assert result.exit_code == INVALID
    assert message in error_line(result.stderr)
    assert result.stdout == ""
    assert snapshot(penguins_registry) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--param", "foo=1"], "unknown parameter 'foo'; allowed: "),
        (["--param", "max_depth=100"], "parameter 'max_depth' must be between 1 and 16"),
        (["--param", "learning_rate=fast"], "parameter 'learning_rate' must be a number"),
        (["--param", "n_estimators"], "must look like name=value"),
        (["--test-size", "0.9"], "test_size must be between 0.05 and 0.5"),
        (["--target", "nope"], "target column 'nope' not found"),
    ],
)
def test_bad_training_options_are_refused(
    options, message, penguins_registry, penguins_csv, cli, snapshot
):
    before = snapshot(penguins_registry)
    args = ["train", str(penguins_csv), "--target", "species", "--name", "penguins", *options]
    result = cli(penguins_registry, *args)
    assert result.exit_code == INVALID
    assert message in error_line(result.stderr)
    assert snapshot(penguins_registry) == before


def test_bad_model_names_and_missing_files_are_refused(penguins_registry, penguins_csv, cli):
    result = cli(
        penguins_registry, "train", str(penguins_csv), "--target", "species", "--name", "../x"
    )
    assert result.exit_code == INVALID and "invalid model name '../x'" in error_line(result.stderr)
    result = cli(penguins_registry, "train", "no-such.csv", "--target", "species", "--name", "m")
    assert result.exit_code == INVALID and "no such file" in error_line(result.stderr)
    assert not (penguins_registry / "models" / "m").exists()


def test_all_missing_column_beside_others_is_dropped_with_its_reason(tmp_path, cli):
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"blank": np.nan, "x": x, "y": np.where(x > 0, "up", "down")})
    data = tmp_path / "blank.csv"
    frame.to_csv(data, index=False)
    registry = tmp_path / "registry"
    result = cli(
        registry,
        "--json",
        "train",
        str(data),
        "--target",
        "y",
        "--name",
        "blank",
        "--param",
        "n_estimators=30",
    )
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)
    assert meta["features"] == ["x"]
    [dropped] = meta["dropped_columns"]
    assert dropped["column"] == "blank" and dropped["reason"].startswith("empty")
    assert (
        "dropped blank: empty"
        in cli(registry, "train", str(data), "--target", "y", "--name", "blank").stdout
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["models", "show", "nope"], NOT_FOUND, "model 'nope' not found"),
        (["models", "show", "penguins:9"], NOT_FOUND, "has no version 9"),
        (["models", "show", "penguins@gone"], NOT_FOUND, "has no alias 'gone'"),
        (["models", "show", "../x"], INVALID, "invalid model reference '../x'"),
        (["models", "show", "a/b"], INVALID, "invalid model reference 'a/b'"),
        (["models", "delete", "../x"], INVALID, "invalid model reference '../x'"),
        (["models", "alias", "penguins", "prod", "9"], NOT_FOUND, "has no version 9"),
        (["predict", "nope", "{csv}"], NOT_FOUND, "model 'nope' not found"),
        (["predict", "../x", "{csv}"], INVALID, "invalid model reference '../x'"),
    ],
)
def test_unknown_models_and_bad_references(
    args, code, message, penguins_registry, penguins_csv, cli, snapshot
):
    before = snapshot(penguins_registry)
    result = cli(penguins_registry, *[a.format(csv=penguins_csv) for a in args])
    assert result.exit_code == code
    assert message in error_line(result.stderr)
    assert snapshot(penguins_registry) == before


SHARED = {"remote", "token", "as_json"}


def command_tree(command: click.Command = main, path: tuple[str, ...] = ("dsba",)):
    """Yield (words that call it, command) for main and every command and group under it."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from command_tree(sub, (*path, name))


def parse_example(line: str) -> None:
    """Parse an example line against the command tree; a usage error fails the test."""
    words = shlex.split(line)[1:]
    command, name = main, "dsba"
    while isinstance(command, click.Group):
        name = words.pop(0)
        command = command.commands[name]
    command.make_context(name, words)


def test_every_help_shows_examples_that_parse():
    tree = dict(command_tree())
    assert {("dsba", "models", "promote"), ("dsba", "jobs", "cancel"), ("dsba", "serve")} <= set(
        tree
    )
    for path in tree:
        shown = CliRunner().invoke(main, [*path[1:], "--help"])
        assert shown.exit_code == 0, shown.output
        _, example, after = shown.stdout.partition("Example")
        assert example, f"{' '.join(path)} --help shows no example"
        # Unwrapped (\b): each example is one whole line, and one calls this very command.
        lines = [line.strip() for line in after.splitlines() if line.strip().startswith("dsba ")]
        assert any(line.startswith(" ".join(path) + " ") for line in lines), path
        for line in lines:
            parse_example(line)


def test_every_command_but_serve_takes_json_remote_and_token_after_its_name():
    for path, command in command_tree():
        names = {param.name for param in command.params}
        expected = set() if isinstance(command, LocalCommand) else SHARED
        assert names & SHARED == expected, path
    assert [path for path, c in command_tree() if isinstance(c, LocalCommand)] == [
        ("dsba", "serve")
    ]
    refused = CliRunner().invoke(main, ["serve", "--json"])
    assert refused.exit_code == 2 and "No such option '--json'" in refused.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["models", "list"],
        ["models", "show", "penguins:1"],
        ["jobs", "list"],
        ["predict", "penguins:1", "{csv}"],
        ["models", "show", "nope"],
    ],
)
def test_json_after_the_command_prints_what_json_before_it_prints(
    command, penguins_trained, penguins_csv, cli
):
    registry = penguins_trained[0]
    args = [word.format(csv=penguins_csv) for word in command]
    before = cli(registry, "--json", *args)
    after = cli(registry, *args, "--json")
    between = cli(registry, args[0], "--json", *args[1:])
    assert before.exit_code == after.exit_code == between.exit_code
    assert before.stdout == after.stdout == between.stdout
    assert before.stderr == after.stderr == between.stderr
    if before.exit_code == 0:
        json.loads(after.stdout)
        assert after.stdout != cli(registry, *args).stdout, "JSON, not the text summary"


def test_train_takes_json_after_the_command(penguins_registry, penguins_csv, cli):
    args = ["train", str(penguins_csv), "--target", "species", "--name", "penguins"]
    args += ["--param", "n_estimators=20"]
    before = cli(penguins_registry, "--json", *args)
    after = cli(penguins_registry, *args, "--json")
    assert before.exit_code == after.exit_code == 0, after.stderr
    first, second = json.loads(before.stdout), json.loads(after.stdout)
    assert (first["version"], second["version"]) == (2, 3)
    assert first["metrics"] == second["metrics"] and first["features"] == second["features"]


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list", "--remote", "http://127.0.0.1:2"],
        ["--remote", "http://127.0.0.1:1", "models", "list", "--remote", "http://127.0.0.1:2"],
        ["--remote", "http://127.0.0.1:1", "models", "--remote", "http://127.0.0.1:2", "list"],
        ["--remote", "http://127.0.0.1:2", "models", "list"],
    ],
)
def test_the_remote_nearest_the_command_wins(args):
    # Nothing listens on these ports: the error names the server the command used.
    env = {"DSBA_REMOTE": "http://127.0.0.1:3"}
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0
    assert "cannot reach http://127.0.0.1:2:" in error_line(result.stderr)
    from_env = CliRunner().invoke(main, ["models", "list", "--json"], env=env)
    assert "cannot reach http://127.0.0.1:3:" in error_line(from_env.stderr)
