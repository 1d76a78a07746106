"""Alias writes and version deletes raced by real processes: no lost update, no stale pointer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pytest
import xgboost

from dsba.registry.model_registry import ModelRegistry
from dsba.store.locks import LockLost, folder_lock

REPO = Path(__file__).resolve().parents[2]
# One thread per library: the writers are forked, and forking is safe in a one-thread process.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

# Imports the registry once (seconds on a busy machine, for xgboost and scikit-learn) and
# forks one writer per pair of pipes. A writer makes one registry call per line it reads,
# "<store> <op> <args>", after 0-4 ms of jitter so that the writers interleave differently
# in every round, and answers the outcome and how many stale locks it broke. "hold" and
# "pause" set an alias but stop in the critical section (reading the aliases file): "hold"
# to be killed there, "pause" until it reads one more line.
WRITERS = textwrap.dedent(
    """
    import logging, os, random, sys, time
    from pathlib import Path
    from dsba.registry import aliases
    from dsba.registry.model_registry import ModelRegistry

    def serve(commands, answers, jitter):
        breaks = []

        class CountBreaks(logging.Handler):
            def emit(self, record):
                if record.getMessage().startswith("broke"):
                    breaks.append(record)

        def hold(*args):
            print("held", file=answers, flush=True)
            time.sleep(60)

        def pause(*args):
            print("held", file=answers, flush=True)
            commands.readline()
            return read(*args)

        read = aliases.read_aliases

        logging.getLogger("dsba").addHandler(CountBreaks())
        print("ready", os.getpid(), file=answers, flush=True)
        for line in commands:
            root, op, *args = line.split()
            registry = ModelRegistry(Path(root))
            breaks.clear()
            time.sleep(jitter.uniform(0.0, 0.004))
            try:
                if op == "delete":
                    registry.delete_version("m", int(args[0]))
                elif op in ("hold", "pause"):
                    aliases.read_aliases = hold if op == "hold" else pause
                    try:
                        registry.set_alias("m", args[0], 1)
                    finally:
                        aliases.read_aliases = read
                else:
                    registry.set_alias("m", args[0], int(args[1]))
                outcome = "ok"
            except Exception as exc:
                outcome = type(exc).__name__
            print(outcome, len(breaks), file=answers, flush=True)

    pipes = [arg.split(",") for arg in sys.argv[1:]]
    for seed, (commands, answers) in enumerate(pipes):
        if os.fork() == 0:
            with open(int(commands)) as c, open(int(answers), "w") as a:
                serve(c, a, random.Random(seed))
            os._exit(0)
    for _ in pipes:
        os.wait()
    """
)


@dataclass(eq=False)
class Writer:
    """One forked writer: its pid, the pipe to send it commands, the pipe it answers on."""

    pid: int
    commands: TextIO
    answers: TextIO


@pytest.fixture(scope="module")
def booster() -> xgboost.Booster:
    """Train a tiny real classifier."""
    features = np.random.default_rng(0).normal(size=(60, 3))
    matrix = xgboost.DMatrix(features, label=(features[:, 0] > 0).astype(int))
    return xgboost.train({"objective": "binary:logistic", "nthread": 1}, matrix, 2)


@pytest.fixture
def store(tmp_path) -> Iterator[Path]:
    """Return an empty store folder, in memory where the system has a tmpfs.

    The races are about the order of renames, not durability: on tmpfs an fsync is free, so a
    round costs milliseconds instead of the tens an fsync takes on a busy CI disk.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="dsba-store-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def writers() -> Iterator[list[Writer]]:
    """Fork seven writer processes, shared by the tests: they start in seconds, not ms."""
    count = 7
    ours, theirs = [], []
    for _ in range(count):
        (command_r, command_w), (answer_r, answer_w) = os.pipe(), os.pipe()
        ours.append((open(command_w, "w"), open(answer_r)))
        theirs.extend((command_r, answer_w))
    args = [f"{theirs[i]},{theirs[i + 1]}" for i in range(0, len(theirs), 2)]
    parent = subprocess.Popen(
        [sys.executable, "-c", WRITERS, *args], pass_fds=theirs, env=CHILD_ENV
    )
    for fd in theirs:
        os.close(fd)
    children = []
    try:
        for commands, answers in ours:
            ready, pid = answers.readline().split()
            assert ready == "ready"
            children.append(Writer(int(pid), commands, answers))
        yield children
    finally:
        for commands, answers in ours:
            commands.close()
        try:
            assert parent.wait(timeout=30) == 0
        finally:
            for _, answers in ours:
                answers.close()


def race(store: Path, commands: dict[Writer, str]) -> list[tuple[str, int]]:
    """Send every writer its command on store at once; return each (outcome, locks broken)."""
    for writer, command in commands.items():
        writer.commands.write(f"{store} {command}\n")
        writer.commands.flush()
    answers = [writer.answers.readline().split() for writer in commands]
    return [(outcome, int(breaks)) for outcome, breaks in answers]


def kill_in_critical_section(root: Path, writer: Writer) -> Path:
    """Kill a writer with SIGKILL while it holds the alias lock; return the lock it left."""
    writer.commands.write(f"{root} hold killed\n")
    writer.commands.flush()
    assert writer.answers.readline() == "held\n"
    os.kill(writer.pid, signal.SIGKILL)
    lock = root / "models" / "m" / "aliases.lock"
    assert lock.is_dir()
    return lock


def age(tree: Path, seconds: float) -> None:
    """Set the times of a folder and of everything in it to seconds ago."""
    then = time.time() - seconds
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (then, then))


def test_an_alias_set_racing_a_delete_never_points_at_a_deleted_version(store, booster, writers):
    registry = ModelRegistry(store)
    registry.save_version("m", booster, {}, {})
    rounds, dangling = 150, []
    orders = Counter()
    deleter, setter = writers[:2]
    for _ in range(rounds):
        version = registry.save_version("m", booster, {}, {})
        deleted, aliased = race(
            store, {deleter: f"delete {version}", setter: f"alias production {version}"}
        )
        assert deleted == ("ok", 0)
        assert aliased[0] in ("ok", "NotFound")
        orders[aliased[0]] += 1
        if registry.get_aliases("m").get("production") == version:
            dangling.append(version)
    # Both orders happened, so the race was run; none left the alias on a deleted version.
    assert orders["ok"] > 0 and orders["NotFound"] > 0, orders
    assert dangling == [], f"{len(dangling)} of {rounds} rounds: production on a deleted version"
    assert registry.list_versions("m") == [1]


def test_a_stale_lock_is_broken_once_and_racing_writers_lose_no_update(store, booster, writers):
    registry = ModelRegistry(store)
    registry.save_version("m", booster, {}, {})
    *children, killed = writers
    left = kill_in_critical_section(store, killed)
    template = store / "left-behind"
    shutil.move(left, template)
    rounds, count = 150, len(children)
    lost, breaks = 0, []
    for r in range(rounds):
        # What a writer killed mid-change two minutes ago left: stale, to be broken once.
        shutil.copytree(template, left)
        age(left, 120)
        answers = race(store, {w: f"alias r{r}-{i} 1" for i, w in enumerate(children)})
        assert [outcome for outcome, _ in answers] == ["ok"] * count
        breaks.append(sum(broken for _, broken in answers))
        written = [a for a in registry.get_aliases("m") if a.startswith(f"r{r}-")]
        lost += count - len(written)
        assert not left.exists()
    assert lost == 0, f"{lost} alias updates lost in {rounds} rounds, every call reporting success"
    assert breaks == [1] * rounds


def test_a_holder_broken_as_stale_can_neither_write_nor_release_the_next_lock(
    store, booster, writers
):
    registry = ModelRegistry(store)
    registry.save_version("m", booster, {}, {})
    lock = store / "models" / "m" / "aliases.lock"
    first, second = writers[2:4]
    first.commands.write(f"{store} pause first\n")
    first.commands.flush()
    assert first.answers.readline() == "held\n"
    age(lock, 120)  # the first holder is paused past the stale age
    second.commands.write(f"{store} pause second\n")
    second.commands.flush()
    assert second.answers.readline() == "held\n"
    # The first holder resumes: its write is refused and its release leaves the second's lock.
    first.commands.write("go on\n")
    first.commands.flush()
    assert first.answers.readline().split() == ["Conflict", "0"]
    assert lock.is_dir()
    with pytest.raises(TimeoutError), folder_lock(lock, timeout=0.2):
        pass
    second.commands.write("go on\n")
    second.commands.flush()
    assert second.answers.readline().split() == ["ok", "1"]
    assert registry.get_aliases("m") == {"second": 1}
    assert not lock.exists()


def test_a_late_write_through_a_broken_lock_is_refused(tmp_path):
    path, target = tmp_path / "file.lock", tmp_path / "file.json"
    with folder_lock(path) as first:
        first.write_json(target, {"by": "first"})
        age(path, 120)
        with folder_lock(path) as second:
            with pytest.raises(LockLost):
                first.write_json(target, {"by": "first, late"})
            second.write_json(target, {"by": "second"})
    assert json.loads(target.read_text()) == {"by": "second"}
    assert not path.exists()
