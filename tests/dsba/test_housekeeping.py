"""Comparing versions, listing them, removing aliases, deleting datasets and whole models."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import read_source
from dsba.errors import Conflict, InvalidInput, NotFound
from dsba.jobs.job_store import JobStore
from dsba.registry.archive import version_archive
from dsba.registry.compare import compare_versions, metric_changes, parse_versions
from dsba.registry.model_registry import ModelRegistry
from dsba.service import LocalService

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def service(registry: Path) -> LocalService:
    """A local service on a registry folder."""
    return LocalService(Settings.from_env({"DSBA_REGISTRY_DIR": str(registry)}))


@pytest.fixture
def two_versions(penguins_registry, penguins_frame, tmp_path, cli) -> Path:
    """penguins:1 as trained, and penguins:2 without bill_depth_mm, with year as text."""
    frame = penguins_frame.drop(columns=["bill_depth_mm"])
    frame["year"] = "y" + frame["year"].astype(str)
    path = tmp_path / "penguins2.csv"
    frame.to_csv(path, index=False)
    result = cli(
        penguins_registry, "train", str(path), "--target", "species", "--name", "penguins",
        "--param", "max_depth=3", "--seed", "7",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return penguins_registry


def test_compare_shows_metric_changes_params_schema_and_data(two_versions):
    compared = service(two_versions).compare("penguins", "2,1")

    assert [v["version"] for v in compared["versions"]] == [1, 2]
    rows = {row["metric"]: row for row in compared["metrics"]}
    accuracy = rows["accuracy"]
    assert accuracy["label"] == "Accuracy" and accuracy["better"] == "higher"
    assert accuracy["changes"][0] is None
    assert accuracy["changes"][1]["change"] == pytest.approx(
        accuracy["values"][1] - accuracy["values"][0], abs=1e-6
    )
    assert rows["log_loss"]["better"] == "lower"
    assert "per_class" not in rows  # only scalar metrics compare side by side
    params = {row["name"]: row for row in compared["params"]}
    assert params["max_depth"]["differs"] and params["max_depth"]["values"][1] == 3
    assert params["seed"]["values"] == [42, 7] and params["seed"]["differs"]
    assert not params["target"]["differs"]
    (change,) = compared["schema_changes"]
    assert change["version"] == 2 and change["against"] == 1
    assert change["dropped"] == ["bill_depth_mm"] and change["added"] == []
    assert change["kind_changed"] == [{"feature": "year", "from": "numeric", "to": "categorical"}]
    first, second = compared["data"]
    assert first["sha256"] != second["sha256"] and not second["same_as_previous"]
    assert first["rows"]["total"] == second["rows"]["total"] == 344


@pytest.mark.parametrize("versions", ["1", "1,1", "1,x", "0,1", "../1,2", ",".join("123456789AB")])
def test_compare_refuses_what_is_not_two_to_ten_versions(penguins_registry, versions):
    with pytest.raises(InvalidInput, match="version"):
        service(penguins_registry).compare("penguins", versions)


def test_compare_of_a_missing_version_or_a_bad_name_is_refused(penguins_registry):
    with pytest.raises(NotFound, match="no version 9"):
        service(penguins_registry).compare("penguins", "1,9")
    with pytest.raises(InvalidInput):
        service(penguins_registry).compare("../etc", "1,2")


def test_binary_metrics_name_the_positive_class_and_regression_compares_alike():
    binary = {"version": 1, "task": "binary", "classes": ["no", "yes"], "metrics": {}}
    binary["metrics"] = {"accuracy": 0.8, "roc_auc": 0.9}
    later = {**binary, "version": 2, "metrics": {"accuracy": 0.85, "roc_auc": 0.88}}
    rows = compare_versions("m", [binary, later], [{}, {}])["metrics"]
    assert [row["label"] for row in rows] == ["Accuracy", "ROC AUC (yes)"]
    assert rows[1]["changes"][1]["better"] is False

    regression = [
        {"version": v, "task": "regression", "metrics": {"rmse": rmse, "mae": 1.0, "r2": r2}}
        for v, rmse, r2 in [(1, 2.0, 0.5), (2, 1.5, 0.6)]
    ]
    rows = {r["metric"]: r for r in compare_versions("m", regression, [{}, {}])["metrics"]}
    assert rows["rmse"]["label"] == "RMSE" and rows["rmse"]["changes"][1]["better"] is True
    assert rows["r2"]["changes"][1]["better"] is True
    assert rows["mae"]["changes"][1]["better"] is None  # unchanged
    changes = metric_changes(regression[1], regression[0])
    assert changes["rmse"] == {"change": -0.5, "previous": 2.0, "better": True, "version": 1}


def test_parse_versions_sorts_and_deduplicates():
    assert parse_versions("3, 1,2,3") == [1, 2, 3]
    assert parse_versions([2, 1]) == [1, 2]


def test_versions_lists_newest_first_with_aliases(two_versions):
    svc = service(two_versions)
    svc.set_alias("penguins", "production", 1)
    rows = svc.versions("penguins")
    assert [(r["version"], r["aliases"]) for r in rows] == [(2, []), (1, ["production"])]
    assert isinstance(rows[0]["metrics"]["accuracy"], float)
    assert "per_class" not in rows[0]["metrics"]


def test_cli_versions_compare_unalias_and_delete_model(two_versions, cli):
    listed = cli(two_versions, "models", "versions", "penguins")
    assert listed.exit_code == 0 and listed.stdout.splitlines()[0].startswith("v2")
    compared = cli(two_versions, "models", "compare", "penguins", "1", "2")
    assert compared.exit_code == 0, compared.stderr
    assert "max_depth" in compared.stdout and "dropped ['bill_depth_mm']" in compared.stdout
    assert cli(two_versions, "models", "alias", "penguins", "staging", "2").exit_code == 0
    removed = cli(two_versions, "--json", "models", "unalias", "penguins", "staging")
    assert removed.exit_code == 0 and json.loads(removed.stdout)["aliases"] == {}
    assert cli(two_versions, "models", "unalias", "penguins", "staging").exit_code == 4

    assert cli(two_versions, "models", "alias", "penguins", "production", "1").exit_code == 0
    refused = cli(two_versions, "models", "delete-model", "penguins")  # no terminal: no "y"
    assert refused.exit_code == 1 and "production" in refused.stderr
    assert cli(two_versions, "models", "versions", "penguins").exit_code == 0
    deleted = cli(two_versions, "models", "delete-model", "penguins", "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    assert "versions 1, 2; aliases production -> 1" in deleted.stdout
    assert cli(two_versions, "models", "versions", "penguins").exit_code == 4
    assert cli(two_versions, "models", "delete-model", "../x", "--yes").exit_code == 3


def test_a_deleted_model_keeps_its_numbers_taken(penguins_registry):
    registry = ModelRegistry(penguins_registry)
    loaded = registry.load("penguins:1")
    assert registry.delete_model("penguins") == {"name": "penguins", "versions": [1], "aliases": {}}
    assert registry.list_models() == []
    with pytest.raises(NotFound):
        registry.load("penguins")
    # Another process may still cache penguins:1: a new model of that name starts at 2.
    assert registry.save_version("penguins", loaded.booster, loaded.schema, {}) == 2


def test_version_archive_holds_the_version_files(penguins_registry):
    registry = ModelRegistry(penguins_registry)
    filename, chunks = version_archive(registry, "penguins")
    assert filename == "penguins-v1.zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    names = sorted(archive.namelist())
    assert {"penguins-v1/model.ubj", "penguins-v1/schema.json", "penguins-v1/metadata.json"} <= set(
        names
    )
    folder = penguins_registry / "models" / "penguins" / "1"
    for name in names:
        assert archive.read(name) == (folder / name.split("/")[1]).read_bytes()


def test_a_dataset_is_deleted_unless_a_job_uses_it(tmp_path, penguins_csv, cli):
    settings = Settings.from_env({"DSBA_REGISTRY_DIR": str(tmp_path)})
    svc = LocalService(settings)
    stored = DatasetStore(tmp_path).save(read_source(str(penguins_csv), settings))
    job = JobStore(settings).create({"dataset_id": stored["id"], "name": "p", "params": {}})

    with pytest.raises(Conflict, match=job["id"]):
        svc.delete_dataset(stored["id"])
    assert cli(tmp_path, "datasets", "delete", stored["id"]).exit_code == 5
    JobStore(settings).write({**job, "state": "cancelled"})  # as its runner ends it
    listed = cli(tmp_path, "--json", "datasets", "list")
    assert [d["id"] for d in json.loads(listed.stdout)] == [stored["id"]]

    deleted = cli(tmp_path, "datasets", "delete", stored["id"])
    assert deleted.exit_code == 0, deleted.stderr
    assert svc.datasets() == [] and not (tmp_path / "datasets" / stored["id"]).exists()
    assert os.listdir(tmp_path / "datasets" / "index") == []
    assert cli(tmp_path, "datasets", "delete", stored["id"]).exit_code == 4
    assert cli(tmp_path, "datasets", "delete", "../../etc").exit_code == 4


BUSY_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np, xgboost
    from dsba.errors import Conflict, NotFound
    from dsba.registry.model_registry import ModelRegistry

    root, stop, role, ready = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    x = np.random.default_rng(0).normal(size=(100, 4))
    matrix = xgboost.DMatrix(x, label=(x[:, 0] > 0).astype(int))
    booster = xgboost.train({"objective": "binary:logistic", "nthread": 1}, matrix, 3)
    registry = ModelRegistry(root)
    done = 0
    ready.touch()
    while not stop.exists():
        if role == "saver":
            registry.save_version("m", booster, {"by": ready.name}, {"by": ready.name})
        else:
            try:
                registry.set_alias("m", "production", registry.resolve("m")[1])
            except (NotFound, Conflict):
                pass
        done += 1
    print(done)
    """
)


def test_deleting_a_model_while_others_save_and_move_aliases_leaves_no_half(tmp_path):
    root, stop = tmp_path / "store", tmp_path / "stop"
    roles = ["saver", "saver", "mover", "mover"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", BUSY_CHILD, str(root), str(stop), role, str(tmp_path / str(i))],
            env=CHILD_ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, role in enumerate(roles)
    ]
    registry = ModelRegistry(root)
    deleted: list[int] = []

    def savers_seen() -> set[str]:
        seen = set()
        for version in registry._versions("m"):
            with contextlib.suppress(NotFound):
                seen.add(registry.get_metadata(f"m:{version}")["by"])
        return seen

    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / str(i)).exists() for i in range(len(roles))):
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.01)
        for _ in range(3):
            # Both savers have versions in the model, so both race with the deletion.
            deadline = time.monotonic() + 120
            while savers_seen() != {"0", "1"}:
                assert time.monotonic() < deadline, "the savers saved nothing"
                assert all(child.poll() is None for child in children)
                time.sleep(0.01)
            result = registry.delete_model("m")
            assert result["versions"] and min(result["versions"]) > max(deleted, default=0)
            deleted += result["versions"]
            # Every version that existed when the lock was taken went, with every alias.
            survivors = registry._versions("m")
            assert not set(survivors) & set(deleted)
            assert all(v > max(result["versions"]) for v in survivors)
    finally:
        stop.touch()
        outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0] * len(roles)
    assert all(int(out) > 0 for out in outputs), outputs

    fresh = ModelRegistry(root)
    survivors = fresh._versions("m")
    for version in deleted:
        folder = root / "models" / "m" / str(version)
        assert sorted(p.name for p in folder.iterdir()) == ["deleted.json"]
    for version in survivors:
        fresh.load(f"m:{version}")  # whole: every file there and its sha256 right
    for target in fresh.get_aliases("m").values() if survivors else []:
        assert target in survivors
    assert not (root / "models" / "m" / "aliases.lock").exists()


def test_headline_metrics_come_first_and_a_baseline_is_neither_better_nor_worse():
    metas = [
        {
            "version": v,
            "metrics": {"zeta": 1.0, "baseline_accuracy": b, "roc_auc": 0.9, "accuracy": a},
        }
        for v, a, b in [(1, 0.8, 0.5), (2, 0.9, 0.6)]
    ]
    rows = compare_versions("m", metas, [{}, {}])["metrics"]
    assert [row["metric"] for row in rows] == ["accuracy", "roc_auc", "baseline_accuracy", "zeta"]
    assert rows[2]["better"] == "reference" and rows[2]["changes"][1]["better"] is None


KILLED_DELETE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from dsba.registry.model_registry import TOMBSTONE_FILE, ModelRegistry
    from dsba.store import locks

    tombstoned = []
    write_json = locks.FolderLock.write_json

    def write_then_die(self, target, payload):
        if target.name == TOMBSTONE_FILE and tombstoned:
            os.kill(os.getpid(), signal.SIGKILL)  # after the first version's tombstone
        write_json(self, target, payload)
        if target.name == TOMBSTONE_FILE:
            tombstoned.append(target)

    locks.FolderLock.write_json = write_then_die
    ModelRegistry(Path(sys.argv[1])).delete_model("m")
    """
)


def test_a_model_deletion_killed_midway_leaves_the_whole_model_gone(penguins_registry):
    registry = ModelRegistry(penguins_registry)
    loaded = registry.load("penguins:1")
    for _ in range(2):
        registry.save_version("m", loaded.booster, loaded.schema, {})
    registry.save_version("m", loaded.booster, loaded.schema, {})
    registry.set_alias("m", "production", 2)

    child = subprocess.run(
        [sys.executable, "-c", KILLED_DELETE, str(penguins_registry)], env=CHILD_ENV
    )

    assert child.returncode == -9
    folder = penguins_registry / "models" / "m"
    assert [(folder / str(v) / "deleted.json").exists() for v in (1, 2, 3)] == [True, False, False]
    fresh = ModelRegistry(penguins_registry)
    assert [m["name"] for m in fresh.list_models()] == ["penguins"]
    for ref in ("m", "m:2", "m:3", "m@production"):
        with pytest.raises(NotFound):
            fresh.resolve(ref)
    assert fresh.save_version("m", loaded.booster, loaded.schema, {}) == 4
    assert fresh.list_versions("m") == [4] and fresh.get_aliases("m") == {}


def test_versions_name_a_split_alias_on_each_of_its_versions(two_versions):
    svc = service(two_versions)
    svc.set_alias_split("penguins", "canary", {1: 90, 2: 10})
    assert [r["aliases"] for r in svc.versions("penguins")] == [["canary"], ["canary"]]
