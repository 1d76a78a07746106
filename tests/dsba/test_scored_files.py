"""Scored files in the store: read back by token, expired after an hour, bounded in number."""

from __future__ import annotations

import os
import time

import pytest

from dsba.data.scored_files import KEEP_FILES, KEEP_SECONDS, ScoredFiles
from dsba.errors import NotFound


def test_a_scored_file_is_read_back_by_its_token_from_another_instance(registry_dir):
    token = ScoredFiles(registry_dir).put(b"a,prediction\n1,yes\n", {"rows": 1})

    other = ScoredFiles(registry_dir)  # another worker, same store
    assert other.summary(token) == {"rows": 1}
    assert other.csv_bytes(token) == b"a,prediction\n1,yes\n"
    assert len(token) == 32 and token != ScoredFiles(registry_dir).put(b"", {})


@pytest.mark.parametrize("token", ["", "../../models", "A" * 31, "A" * 32, "A" * 31 + "/"])
def test_anything_but_a_live_token_is_not_found(registry_dir, token):
    ScoredFiles(registry_dir).put(b"x", {})
    with pytest.raises(NotFound):
        ScoredFiles(registry_dir).summary(token)
    with pytest.raises(NotFound):
        ScoredFiles(registry_dir).csv_bytes(token)


def test_a_scored_file_expires_after_an_hour(registry_dir):
    files = ScoredFiles(registry_dir)
    token = files.put(b"x", {"rows": 1})
    old = time.time() - KEEP_SECONDS - 1
    for suffix in (".csv", ".json"):
        os.utime(files.folder / f"{token}{suffix}", (old, old))

    with pytest.raises(NotFound, match="expired"):
        files.summary(token)
    files.put(b"y", {})  # the next write sweeps it away
    assert not (files.folder / f"{token}.csv").exists()


def test_the_store_keeps_a_bounded_number_of_scored_files(registry_dir):
    files = ScoredFiles(registry_dir)
    tokens = []
    for i in range(KEEP_FILES + 10):
        tokens.append(files.put(b"x", {"i": i}))
        stamp = time.time() - 1000 + i  # distinct ages, oldest first
        for suffix in (".csv", ".json"):
            os.utime(files.folder / f"{tokens[-1]}{suffix}", (stamp, stamp))

    assert len(os.listdir(files.folder)) == 2 * KEEP_FILES
    assert files.summary(tokens[-1]) == {"i": KEEP_FILES + 9}
    with pytest.raises(NotFound):
        files.summary(tokens[0])
