"""dsba train --trials / --time-budget: a search bar (trials, time left, best), then rounds."""

from __future__ import annotations

import contextlib
import json

from dsba.cli_progress import TrainingBars, search_line


def test_train_with_trials_searches_then_trains_and_keeps_the_leaderboard(
    tmp_path, penguins_csv, cli
):
    args = ("train", str(penguins_csv), "--target", "species", "--name", "searched")
    result = cli(tmp_path, *args, "--trials", "3", "--optimize", "balanced_accuracy")
    assert result.exit_code == 0, result.stderr
    # Without a terminal click prints each bar's label once: the search's, then the rounds'.
    assert 0 <= result.stderr.index("searching") < result.stderr.index("training")
    assert "searched 3 trials in " in result.stdout and "balanced_accuracy" in result.stdout
    assert "searched 3 trials in " in cli(tmp_path, "models", "show", "searched").stdout
    shown = json.loads(cli(tmp_path, "--json", "models", "show", "searched").stdout)
    search = shown["search"]
    assert (search["trials"], search["trials_done"], search["time_budget"]) == (3, 3, None)
    assert sorted(row["trial"] for row in search["leaderboard"]) == [1, 2, 3]
    assert search["winner"]["trial"] == search["leaderboard"][0]["trial"]


def test_a_search_out_of_bounds_is_refused_with_exit_code_3(tmp_path, penguins_csv, cli):
    args = ("train", str(penguins_csv), "--target", "species", "--name", "searched")
    result = cli(tmp_path, *args, "--time-budget", "5")
    assert result.exit_code == 3, result.stdout
    assert "time_budget" in result.stderr and "searching" not in result.stderr


def test_the_search_bar_counts_seconds_of_a_budget_then_hands_over_to_rounds():
    record = {"trial": 4, "total": None, "seconds_left": 15.2, "best": 0.91234, "metric": "f1"}
    assert search_line(record) == "trial 4 · 15s left · best f1 0.9123"
    assert (
        search_line({**record, "total": 10, "seconds_left": None}) == "trial 4/10 · best f1 0.9123"
    )
    with contextlib.ExitStack() as stack:
        bars = TrainingBars(stack, time_budget=20)
        bars.trial(record)
        assert (bars.search.length, bars.search.pos) == (20, 5)
        bars.round(3, 100)
        bars.trial({**record, "seconds_left": 1})  # a late record does not move a closed bar
        assert bars.search.pos == 20 and bars.rounds.pos == 3
        bars.finish()
        assert bars.rounds.pos == 100
