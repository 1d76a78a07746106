"""What the CLI says: whole help sentences, aliases as arrows, empty listings, workbooks."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from workbooks import ROWS, XLS_BYTES, ods_bytes, xlsx_bytes

from dsba.cli import main
from dsba.cli_models import where_models_live
from dsba.cli_options import EXIT_CODES, Context, first_sentence
from dsba.data.ingestion import parse_bytes
from dsba.errors import InvalidInput

INVALID = EXIT_CODES[InvalidInput]


def groups(command: click.Command = main, path: tuple[str, ...] = ()):
    """Yield (path, group) for the root group and every subgroup."""
    if isinstance(command, click.Group):
        yield path, command
        for name, sub in command.commands.items():
            yield from groups(sub, (*path, name))


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_listed_command_shows_its_whole_first_sentence(width):
    seen = 0
    for path, group in groups():
        shown = CliRunner().invoke(main, [*path, "--help"], terminal_width=width)
        assert shown.exit_code == 0, shown.output
        listing = shown.stdout.partition("Commands:")[2]
        flat = " ".join(listing.split())
        assert "..." not in listing, f"dsba {' '.join(path)} --help cuts a line:\n{listing}"
        for name, sub in group.commands.items():
            sentence = first_sentence(sub.help or "")
            assert sentence.endswith("."), (name, sentence)
            assert f"{name} {sentence}" in flat, (path, name)
            seen += 1
    assert seen >= 15


def test_first_sentence_stops_at_a_period_before_a_capital_only():
    assert first_sentence("Compare a vs. b. Then more.\n\nDetails.") == "Compare a vs. b."
    assert first_sentence("\b\nNo period at all\n\nDetails.") == "No period at all"


def test_an_empty_listing_names_the_folder_it_looked_in(tmp_path, cli):
    listed = cli(tmp_path / "store", "models", "list")
    assert listed.exit_code == 0
    assert listed.stdout.strip() == f"no models yet in {tmp_path / 'store' / 'models'}"


def test_aliases_print_as_arrows_not_a_dict(penguins_registry, cli, penguins_csv):
    args = ("train", str(penguins_csv), "--target", "species", "--name", "penguins")
    assert cli(penguins_registry, *args, "--param", "n_estimators=5").exit_code == 0
    assert cli(penguins_registry, "models", "alias", "penguins", "production", "1").exit_code == 0
    split = cli(penguins_registry, "models", "split", "penguins", "canary", "1=90", "2=10")
    assert split.stdout.strip() == "penguins@canary -> 1 (90%) + 2 (10%)"

    line = cli(penguins_registry, "models", "list").stdout.strip()
    assert line.startswith("penguins ") and "{" not in line
    assert line.endswith("aliases: canary -> 1 (90%) + 2 (10%), production -> 1")


@pytest.mark.parametrize(
    ("name", "raw", "kind"),
    [
        ("penguins.xlsx", xlsx_bytes(), "an Excel workbook"),
        ("penguins.csv", xlsx_bytes(), "an Excel workbook"),  # renamed: the bytes tell
        ("export", xlsx_bytes(), "an Excel workbook"),
        ("penguins.ods", ods_bytes(), "an OpenDocument spreadsheet"),
        ("penguins.xls", XLS_BYTES, "an Excel workbook"),
    ],
)
def test_a_workbook_is_told_to_be_saved_as_csv(name, raw, kind):
    with pytest.raises(InvalidInput) as refused:
        parse_bytes(raw, filename=name)
    assert f"the file is {kind}" in refused.value.message
    assert "save it as CSV" in refused.value.message
    assert "binary" not in refused.value.message


def test_csv_text_named_xlsx_is_read_as_the_csv_it_is():
    raw = "\n".join(",".join(row) for row in ROWS).encode()
    frame, fmt = parse_bytes(raw, filename="penguins.xlsx")
    assert (fmt, list(frame.columns), len(frame)) == ("csv", list(ROWS[0]), 1)


def test_dsba_train_on_an_xlsx_says_save_it_as_csv(tmp_path: Path, cli):
    book = tmp_path / "penguins.xlsx"
    book.write_bytes(xlsx_bytes())
    result = cli(tmp_path / "store", "train", str(book), "--target", "species", "--name", "p")
    assert result.exit_code == INVALID
    assert "save it as CSV" in result.stderr and "binary" not in result.stderr


def test_an_empty_remote_listing_names_the_server():
    context = Context()
    context.remote = "http://models.example:8000"
    assert where_models_live(context) == "on http://models.example:8000"
