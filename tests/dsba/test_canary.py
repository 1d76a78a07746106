"""Canary aliases: weighted routing, promote and rollback, on real models."""

from __future__ import annotations

import pytest
from datagen import two_version_store

from dsba.errors import Conflict
from dsba.service import LocalService


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> LocalService:
    """A store with two versions of one small model."""
    return two_version_store(tmp_path_factory.mktemp("canary"))


def test_split_routes_by_weight_and_reports_the_version(service):
    service.set_alias_split("m", "production", {1: 0.5, 2: 0.5})
    answered = [
        service.predict_records("m@production", [{"x": 0.5, "z": 0.0}]).model for _ in range(400)
    ]
    counts = {ref: answered.count(ref) for ref in set(answered)}
    assert set(counts) == {"m:1", "m:2"}
    # 400 fair coin flips: a count outside 200 +- 4 sd (40) would be a one-in-15,000 event.
    assert abs(counts["m:1"] - 200) < 40


def test_promote_and_rollback_end_the_split(service):
    service.set_alias_split("m", "production", {1: 0.9, 2: 0.1})
    assert service.promote("m", "production")["aliases"]["production"] == 2
    service.set_alias_split("m", "production", {1: 0.9, 2: 0.1})
    assert service.rollback("m", "production")["aliases"]["production"] == 1
    with pytest.raises(Conflict):
        service.promote("m", "production")
