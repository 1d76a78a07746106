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


def test_cli_split_promote_rollback(tmp_path):
    from click.testing import CliRunner

    from dsba.cli import main

    two_version_store(tmp_path / "registry")
    env = {"DSBA_REGISTRY_DIR": str(tmp_path / "registry")}

    def run(*args: str):
        return CliRunner().invoke(main, ["--json", "models", *args], env=env)

    split = run("split", "m", "production", "1=75", "2=25")
    assert split.exit_code == 0, split.output
    assert '"2": 0.25' in split.output
    assert run("promote", "m", "production").exit_code == 0
    refused = run("promote", "m", "production")
    assert refused.exit_code == 5
    assert "points at one version (2)" in refused.output
    run("split", "m", "production", "1=1", "2=1")
    rolled = run("rollback", "m", "production")
    assert rolled.exit_code == 0
    assert '"production": 1' in rolled.output
    assert run("split", "m", "production", "x").exit_code == 3
