"""A search on the command line: its bars (trials, time left, best, then rounds), its outcome."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click


def search_line(record: dict[str, Any] | None) -> str:
    """A search's progress as words: trials done, time left, best score so far."""
    if not record:
        return ""
    total = record.get("total")
    parts = [f"trial {record.get('trial', 0)}" + (f"/{total}" if total else "")]
    if record.get("seconds_left") is not None:
        parts.append(f"{record['seconds_left']:.0f}s left")
    if record.get("best") is not None:
        parts.append(f"best {record.get('metric', 'score')} {record['best']:.4g}")
    return " · ".join(parts)


def searched(search: dict[str, Any] | None) -> str:
    """The search's outcome as a line: trials, winner and its cross-validated score."""
    if not search:
        return ""
    winner = search.get("winner") or {}
    score = winner.get("score")
    best = f" {search.get('optimize')} {score:.4g}" if score is not None else ""
    return (
        f"\n  searched {search.get('trials_done', 0)} trials in {search.get('seconds', 0):.0f}s;"
        f" winner trial {winner.get('trial')} ({winner.get('candidate')}),"
        f" {search.get('validation')}{best}"
    )


class TrainingBars:
    """A search bar (when a search runs) then a rounds bar, on stderr, closed by the stack.

    Nothing is drawn before the first report, so a refused dataset prints only its error.
    """

    def __init__(self, stack: contextlib.ExitStack, time_budget: float | None) -> None:
        self.stack = stack
        self.time_budget = time_budget
        self.search: Any = None
        self.rounds: Any = None

    def _open(self, length: int, label: str, **options: Any) -> Any:
        bar = click.progressbar(length=max(length, 1), label=label, file=sys.stderr, **options)
        return self.stack.enter_context(bar)

    def trial(self, record: dict[str, Any]) -> None:
        """Move the search bar: by trials when counted, else by the seconds of the budget."""
        if self.rounds is not None:
            return
        total = record.get("total")
        if total:
            length, done = int(total), int(record.get("trial", 0))
        else:
            length = int(self.time_budget or 1)
            left = record.get("seconds_left")
            done = length - int(left) if left is not None else 0
        if self.search is None:
            self.search = self._open(length, "searching", item_show_func=search_line)
        self.search.length = length
        self.search.update(max(0, min(done, length) - self.search.pos), record)

    def round(self, done: int, total: int) -> None:
        """Move the rounds bar; the first round ends the search bar, full."""
        if self.rounds is None:
            if self.search is not None:
                self.search.update(self.search.length - self.search.pos)
                self.search.render_finish()
            self.rounds = self._open(total, "training")
        self.rounds.length = total
        self.rounds.update(done - self.rounds.pos)

    def finish(self) -> None:
        """Fill the rounds bar: early stopping ends training before its maximum."""
        if self.rounds is not None:
            self.rounds.update(self.rounds.length - self.rounds.pos)
