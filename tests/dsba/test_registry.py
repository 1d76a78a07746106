"""Model registry: round-trips, references, corruption, path safety, kill -9 and racing writers."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer

from dsba.errors import InvalidInput, NotFound, StoreError
from dsba.registry.model_registry import LoadedModel, ModelRegistry
from dsba.registry.refs import ModelRef, parse_ref, validate_name

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}

# Audit hooks cannot be removed once added, so one hook forwards to whatever tests listen.
_listeners: list = []
sys.addaudithook(lambda event, args: [listen(event, args) for listen in list(_listeners)])

FS_EVENTS = {
    "open",
    "os.listdir",
    "os.scandir",
    "os.mkdir",
    "os.rename",
    "os.remove",
    "os.rmdir",
    "os.chmod",
    "os.utime",
    "os.truncate",
    "os.link",
    "os.symlink",
    "shutil.rmtree",
}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Return the breast cancer features and labels."""
    features, labels = load_breast_cancer(return_X_y=True)
    return features, labels


@pytest.fixture(scope="module")
def booster(data) -> xgboost.Booster:
    """Train a small real classifier."""
    features, labels = data
    params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    return xgboost.train(params, xgboost.DMatrix(features, label=labels), 5)


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    """Return a registry on an empty store."""
    return ModelRegistry(tmp_path / "store")


@pytest.fixture
def audit():
    """Register audit listeners for the duration of one test."""
    added: list = []

    def listen(callback) -> None:
        added.append(callback)
        _listeners.append(callback)

    yield listen
    for callback in added:
        _listeners.remove(callback)


def save(registry: ModelRegistry, booster: xgboost.Booster, name: str = "m", **metadata) -> int:
    """Save a version with a small schema."""
    return registry.save_version(name, booster, {"features": ["a", "b"]}, metadata)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Return every path under root with its size and mtime."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


def test_round_trip_keeps_predictions_and_checksums(registry, booster, data):
    version = registry.save_version("cancer", booster, {"target": "y"}, {"auc": 0.99})
    assert version == 1

    loaded = registry.load("cancer")

    assert isinstance(loaded, LoadedModel)
    assert (loaded.name, loaded.version, loaded.ref) == ("cancer", 1, "cancer:1")
    matrix = xgboost.DMatrix(data[0])
    np.testing.assert_array_equal(loaded.booster.predict(matrix), booster.predict(matrix))
    assert loaded.schema == {"target": "y"} == registry.get_schema("cancer:1")
    folder = registry.root / "models" / "cancer" / "1"
    artifacts = loaded.metadata["artifacts"]
    assert artifacts["model.ubj"] == hashlib.sha256((folder / "model.ubj").read_bytes()).hexdigest()
    assert set(artifacts) == {"model.ubj", "schema.json"}
    assert loaded.metadata["auc"] == 0.99
    assert (loaded.metadata["name"], loaded.metadata["version"]) == ("cancer", 1)
    created = datetime.fromisoformat(loaded.metadata["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert registry.get_metadata("cancer") == loaded.metadata
    assert registry.load("cancer:1") is loaded
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.ubj", "schema.json"]
    assert list((registry.root / "tmp").iterdir()) == []


def test_cache_is_lru_and_shared_between_threads(tmp_path, booster):
    writer = ModelRegistry(tmp_path)
    save(writer, booster)
    save(writer, booster)
    registry = ModelRegistry(tmp_path, cache_size=1)

    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(registry.load, ["m:1"] * 16))
    assert all(model is models[0] for model in models)

    second = registry.load("m:2")
    assert registry.load("m:2") is second
    assert registry.load("m:1") is not models[0]


def test_versions_refs_aliases_and_deletion(registry, booster):
    assert [save(registry, booster, i=i) for i in range(3)] == [1, 2, 3]
    assert registry.list_versions("m") == [1, 2, 3]
    assert registry.resolve("m") == ("m", 3)
    assert registry.resolve("m:2") == ("m", 2)
    assert registry.get_metadata("m:2")["i"] == 1

    registry.set_alias("m", "prod", 3)
    registry.set_alias("m", "old", 1)
    assert registry.resolve("m@prod") == ("m", 3)
    assert registry.resolve(ModelRef("m", alias="old")) == ("m", 1)
    assert registry.get_aliases("m") == {"prod": 3, "old": 1}
    cached = registry.load("m:3")
    assert cached.metadata["i"] == 2

    registry.delete_version("m", 3)

    assert registry.list_versions("m") == [1, 2]
    assert registry.resolve("m") == ("m", 2)
    assert registry.get_aliases("m") == {"old": 1}
    with pytest.raises(NotFound, match="no version 3"):
        registry.load("m:3")
    with pytest.raises(NotFound, match="prod"):
        registry.resolve("m@prod")
    assert save(registry, booster, i=3) == 4
    with pytest.raises(NotFound, match="no version 3"):
        registry.get_metadata("m:3")
    # A fresh process sees the same high-water mark.
    assert save(ModelRegistry(registry.root), booster) == 5

    registry.delete_alias("m", "old")
    assert registry.get_aliases("m") == {}
    listed = registry.list_models()
    assert [(m["name"], m["latest_version"], m["versions"]) for m in listed] == [
        ("m", 5, [1, 2, 4, 5])
    ]
    assert listed[0]["latest"]["version"] == 5
    assert listed[0]["aliases"] == {}


def test_list_models_sorts_names_and_skips_leftovers(registry, booster):
    assert registry.list_models() == []
    save(registry, booster, name="zeta")
    save(registry, booster, name="alpha")
    save(registry, booster, name="gone")
    registry.delete_version("gone", 1)
    models = registry.root / "models"
    for leftover in ("alpha/7", "alpha/junk", "alpha/007", "alpha/0", "UPPER/1", ".hidden"):
        (models / leftover).mkdir(parents=True)
    (models / "alpha" / "9").mkdir()
    (models / "alpha" / "9" / "model.ubj").write_bytes(b"half a save")
    # A delete killed after its tombstone and before its unlinks hides the version already.
    assert save(registry, booster, name="alpha") == 10
    (models / "alpha" / "10" / "deleted.json").write_text("{}")

    assert [m["name"] for m in registry.list_models()] == ["alpha", "zeta"]
    assert registry.list_versions("alpha") == [1]
    with pytest.raises(NotFound, match="'gone'"):
        registry.list_versions("gone")
    # Numbered leftovers still count towards the next number, so no rename lands on them.
    assert save(registry, booster, name="alpha") == 11


def test_not_found_names_what_is_missing(registry, booster):
    with pytest.raises(NotFound, match="'ghost'"):
        registry.load("ghost")
    with pytest.raises(NotFound, match="'ghost'"):
        registry.get_aliases("ghost")
    save(registry, booster)
    with pytest.raises(NotFound, match="no version 9"):
        registry.load("m:9")
    with pytest.raises(NotFound, match="no alias 'canary'"):
        registry.resolve("m@canary")
    with pytest.raises(NotFound, match="no alias 'canary'"):
        registry.delete_alias("m", "canary")
    with pytest.raises(NotFound, match="no version 2"):
        registry.set_alias("m", "prod", 2)
    with pytest.raises(NotFound, match="no version 2"):
        registry.delete_version("m", 2)


@pytest.mark.parametrize(
    ("filename", "damage"),
    [
        ("model.ubj", lambda raw: raw[:-1] + bytes([raw[-1] ^ 1])),
        ("model.ubj", lambda raw: raw[: len(raw) // 2]),
        ("schema.json", lambda raw: raw.replace(b"features", b"feathers")),
        ("metadata.json", lambda raw: raw[:10]),
    ],
)
def test_corrupt_artifact_raises_store_error(tmp_path, booster, filename, damage):
    save(ModelRegistry(tmp_path), booster)
    path = tmp_path / "models" / "m" / "1" / filename
    path.write_bytes(damage(path.read_bytes()))

    with pytest.raises(StoreError, match="m:1"):
        ModelRegistry(tmp_path).load("m:1")


def test_parse_ref_accepts_the_three_forms():
    assert parse_ref("m") == ModelRef("m")
    assert parse_ref("m-1_x:12") == ModelRef("m-1_x", version=12)
    assert parse_ref("m@production") == ModelRef("m", alias="production")
    for text in ("m", "m:12", "m@prod", "a" * 64):
        assert str(parse_ref(text)) == text
    assert validate_name("a" * 64) == "a" * 64


BAD_REFS = [
    "../x",
    "a/b",
    "x:0",
    "x:-1",
    "X",
    "",
    "x@",
    "a" * 65,
    "x:",
    "x:01",
    "x:1:2",
    "x:1@a",
    "x@../y",
    "x@Prod",
    "x\n",
    " x",
    "..",
    "x:1234567890",
    3,
    None,
]
BAD_NAMES = ["../x", "a/b", "X", "", "a" * 65, "..", ".", "x\n", "_x", 3]
BAD_VERSIONS = [0, -1, True, "1", 1.5, None]


def test_bad_input_is_rejected_before_any_filesystem_access(tmp_path, booster, audit, monkeypatch):
    root = tmp_path / "store"
    registry = ModelRegistry(root)
    save(registry, booster)
    registry.set_alias("m", "prod", 1)
    before = tree_state(tmp_path)
    touched: list = []
    audit(lambda event, args: touched.append((event, args)) if event in FS_EVENTS else None)

    def traced(real):
        def call(*args, **kwargs):
            touched.append((real.__name__, args))
            return real(*args, **kwargs)

        return call

    # stat() and access() raise no audit event; Path.exists() and is_file() go through them.
    for name in ("stat", "lstat", "access"):
        monkeypatch.setattr(os, name, traced(getattr(os, name)))

    calls = []
    for ref in BAD_REFS:
        calls += [
            (parse_ref, ref),
            (registry.resolve, ref),
            (registry.load, ref),
            (registry.get_metadata, ref),
            (registry.get_schema, ref),
        ]
    for name in BAD_NAMES:
        calls += [
            (ModelRef, name),
            (registry.list_versions, name),
            (registry.get_aliases, name),
            (registry.save_version, name, booster, {}, {}),
            (registry.delete_version, name, 1),
            (registry.set_alias, name, "prod", 1),
            (registry.set_alias, "m", name, 1),
            (registry.set_alias_split, name, "prod", {1: 1.0}),
            (registry.set_alias_split, "m", name, {1: 1.0}),
            (registry.delete_alias, name, "prod"),
            (registry.delete_alias, "m", name),
        ]
    for version in BAD_VERSIONS:
        calls += [
            (registry.delete_version, "m", version),
            (registry.set_alias, "m", "prod", version),
            (registry.set_alias_split, "m", "prod", {version: 1.0}),
        ]
    calls += [
        (ModelRef, "m", 0),
        (ModelRef, "m", -1),
        (ModelRef, "m", True),
        (ModelRef, "m", 1, "prod"),
        (registry.save_version, "m", booster, [], {}),
        (registry.save_version, "m", booster, {}, {(1, 2): "tuple key"}),
    ]
    for call, *args in calls:
        try:
            call(*args)
        except InvalidInput:
            pass
        else:
            pytest.fail(f"{call.__name__}{tuple(args)!r} accepted bad input")
        assert touched == [], f"{call.__name__}{tuple(args)!r} touched the filesystem"
    monkeypatch.undo()

    assert tree_state(tmp_path) == before
    assert registry.resolve("m@prod") == ("m", 1)


def test_invalid_ref_message_explains_the_forms():
    with pytest.raises(InvalidInput, match="'name', 'name:<version>' or 'name@<alias>'"):
        parse_ref("../etc/passwd")


def test_rename_collision_moves_on_to_the_next_number(tmp_path, booster, audit):
    registry = ModelRegistry(tmp_path)
    rival = ModelRegistry(tmp_path)
    save(registry, booster, who="first")
    stolen: list = []

    def steal_the_number(event, args):
        # Just before our rename lands, another writer takes the same number.
        if event == "os.rename" and not stolen and Path(args[1]).parent.name == "m":
            stolen.append(Path(args[1]).name)
            save(rival, booster, who="rival")

    audit(steal_the_number)
    assert save(registry, booster, who="me") == 3

    assert stolen == ["2"]
    assert registry.get_metadata("m:2")["who"] == "rival"
    assert registry.get_metadata("m:3")["who"] == "me"
    assert registry.load("m:3").metadata["version"] == 3
    assert list((tmp_path / "tmp").iterdir()) == []


KILL_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import numpy as np, xgboost
    from dsba.registry.model_registry import ModelRegistry

    real_fsync = os.fsync

    def slow_fsync(fd):
        time.sleep(0.01)  # widen the window in which a kill lands mid-save
        real_fsync(fd)

    os.fsync = slow_fsync
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    matrix = xgboost.DMatrix(x, label=(x[:, 0] + x[:, 1] > 0).astype(int))
    booster = xgboost.train({"objective": "binary:logistic", "nthread": 1}, matrix, 30)
    registry = ModelRegistry(Path(sys.argv[1]))
    for i in range(10_000):
        print("saving", flush=True)
        registry.save_version("m", booster, {"n": 6}, {"i": i})
    """
)


def test_kill_9_mid_save_leaves_only_complete_versions(tmp_path):
    chance = random.Random(7)
    kills = 4
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_CHILD, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=CHILD_ENV,
        )
        try:
            for _ in range(chance.randint(1, 3)):
                assert child.stdout.readline() == "saving\n"
            time.sleep(chance.uniform(0.0, 0.05))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL

    # The kills landed mid-save: they left half-written staging folders behind.
    leftovers = [p for p in (tmp_path / "tmp").iterdir() if any(p.iterdir())]
    assert len(leftovers) >= 1
    fresh = ModelRegistry(tmp_path)
    versions = fresh.list_versions("m")
    numbered = sorted(int(p.name) for p in (tmp_path / "models" / "m").iterdir())
    assert versions == numbered == list(range(1, len(versions) + 1))
    for version in versions:
        loaded = fresh.load(f"m:{version}")
        assert loaded.schema == {"n": 6}
        assert sorted(p.name for p in (tmp_path / "models" / "m" / str(version)).iterdir()) == [
            "metadata.json",
            "model.ubj",
            "schema.json",
        ]
    assert fresh.save_version("m", loaded.booster, {"n": 6}, {}) == len(versions) + 1


RACE_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np, xgboost
    from dsba.registry.model_registry import ModelRegistry

    root, go, ready, writer = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(int(writer))
    x = rng.normal(size=(100, 4))
    matrix = xgboost.DMatrix(x, label=(x[:, 0] > 0).astype(int))
    booster = xgboost.train({"objective": "binary:logistic", "nthread": 1}, matrix, 3)
    registry = ModelRegistry(root)
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    for i in range(SAVES):
        registry.save_version("m", booster, {"writer": writer}, {"writer": writer, "i": i})
    """
)


def test_racing_processes_get_distinct_complete_versions(tmp_path):
    writers, saves = 4, 6
    root, go = tmp_path / "store", tmp_path / "go"
    script = RACE_CHILD.replace("SAVES", str(saves))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(root), str(go), str(tmp_path / f"ready{w}"), str(w)],
            env=CHILD_ENV,
        )
        for w in range(writers)
    ]
    try:
        deadline = time.monotonic() + 30
        while not all((tmp_path / f"ready{w}").exists() for w in range(writers)):
            assert time.monotonic() < deadline, "writers did not start"
            assert all(child.poll() is None for child in children)
            time.sleep(0.01)
        go.touch()
        assert [child.wait(timeout=30) for child in children] == [0] * writers
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    registry = ModelRegistry(root)
    total = writers * saves
    assert registry.list_versions("m") == list(range(1, total + 1))
    written = Counter()
    for version in range(1, total + 1):
        loaded = registry.load(f"m:{version}")
        assert loaded.schema["writer"] == loaded.metadata["writer"]
        written[(loaded.metadata["writer"], loaded.metadata["i"])] += 1
    assert written == Counter({(str(w), i): 1 for w in range(writers) for i in range(saves)})


def test_weighted_alias_split(registry, booster):
    save(registry, booster)
    save(registry, booster)
    aliases_file = registry.root / "models" / "m" / "aliases.json"

    registry.set_alias_split("m", "production", {1: 0.5, 2: 0.5})

    assert json.loads(aliases_file.read_text()) == {"production": {"1": 0.5, "2": 0.5}}
    rng = random.Random(42)
    picks = Counter(registry.resolve("m@production", rng=rng) for _ in range(400))
    assert set(picks) == {("m", 1), ("m", 2)}
    # Binomial(400, 0.5) has sd 10: five of them either side of 200.
    assert 150 <= picks[("m", 1)] <= 250
    assert registry.load("m@production").version in (1, 2)

    registry.set_alias_split("m", "production", {1: 3, 2: 1})
    assert registry.get_aliases("m") == {"production": {"1": 0.75, "2": 0.25}}
    rng = random.Random(42)
    picks = Counter(registry.resolve("m@production", rng=rng)[1] for _ in range(400))
    assert 255 <= picks[1] <= 345

    registry.set_alias("m", "production", 2)
    assert json.loads(aliases_file.read_text()) == {"production": 2}
    registry.set_alias_split("m", "production", {1: 7.0})
    assert json.loads(aliases_file.read_text()) == {"production": 1}

    registry.set_alias_split("m", "canary", {1: 0.9, 2: 0.1})
    registry.delete_version("m", 2)
    assert registry.get_aliases("m") == {"production": 1, "canary": 1}


@pytest.mark.parametrize(
    ("weights", "error"),
    [
        ({}, InvalidInput),
        ({1: 0}, InvalidInput),
        ({1: -0.5, 2: 1.5}, InvalidInput),
        ({1: float("nan")}, InvalidInput),
        ({1: float("inf")}, InvalidInput),
        ({1: "half"}, InvalidInput),
        ({1: 0.5, 3: 0.5}, NotFound),
    ],
)
def test_alias_split_rejects_bad_weights(registry, booster, weights, error):
    save(registry, booster)
    save(registry, booster)
    with pytest.raises(error):
        registry.set_alias_split("m", "production", weights)
    assert registry.get_aliases("m") == {}


def test_is_writable(tmp_path):
    assert ModelRegistry(tmp_path / "store").is_writable()
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert not ModelRegistry(blocker).is_writable()


def test_latest_seen_by_another_process_follows_saves_and_deletes(tmp_path, booster):
    from dsba.registry.model_registry import LATEST_TTL_SECONDS

    reader, writer = ModelRegistry(tmp_path / "store"), ModelRegistry(tmp_path / "store")
    writer.save_version("m", booster, {}, {})
    assert reader.resolve("m") == ("m", 1)
    writer.save_version("m", booster, {}, {})
    # The folder's mtime normally tells at once; the TTL bounds coarse-mtime shares.
    if reader.resolve("m") != ("m", 2):
        time.sleep(LATEST_TTL_SECONDS + 0.05)
    assert reader.resolve("m") == ("m", 2)
    writer.delete_version("m", 2)
    assert reader.resolve("m") == ("m", 1)


def test_pinned_versions_and_aliases_seen_by_another_process_follow_changes(tmp_path, booster):
    reader, writer = ModelRegistry(tmp_path / "store"), ModelRegistry(tmp_path / "store")
    save(writer, booster)
    save(writer, booster)
    writer.set_alias("m", "production", 1)
    assert reader.resolve("m@production") == ("m", 1)
    assert reader.resolve("m:2") == ("m", 2)
    # Stamps of the aliases file and of the version folder tell at once, without the TTL.
    writer.set_alias("m", "production", 2)
    assert reader.resolve("m@production") == ("m", 2)
    writer.delete_version("m", 2)
    with pytest.raises(NotFound):
        reader.resolve("m:2")
    with pytest.raises(NotFound):
        reader.resolve("m@production")


def test_a_save_sweeps_what_killed_saves_left_in_tmp(registry, booster):
    leftover = registry.root / "tmp" / "0123abcd"
    leftover.mkdir(parents=True)
    (leftover / "model.ubj").write_bytes(b"partial")
    recent = registry.root / "tmp" / "fresh"
    recent.mkdir()
    old = time.time() - 7 * 3600
    os.utime(leftover, (old, old))
    save(registry, booster)
    assert not leftover.exists() and recent.exists()


def test_aliases_written_at_once_by_many_processes_are_all_kept(tmp_path, booster):
    save(ModelRegistry(tmp_path / "store"), booster)
    writers = [ModelRegistry(tmp_path / "store") for _ in range(8)]
    start = threading.Barrier(len(writers))

    def write(i: int) -> None:
        start.wait()
        for j in range(5):
            writers[i].set_alias("m", f"a{i}-{j}", 1)

    with ThreadPoolExecutor(len(writers)) as pool:
        list(pool.map(write, range(len(writers))))
    aliases = writers[0].get_aliases("m")
    assert aliases == {f"a{i}-{j}": 1 for i in range(8) for j in range(5)}
    assert not (tmp_path / "store" / "models" / "m" / "aliases.lock").exists()


def test_a_lock_left_by_a_killed_process_is_broken_once_stale(tmp_path, booster):
    registry = ModelRegistry(tmp_path / "store")
    save(registry, booster)
    lock = tmp_path / "store" / "models" / "m" / "aliases.lock"
    lock.mkdir()
    old = time.time() - 60
    os.utime(lock, (old, old))
    registry.set_alias("m", "production", 1)
    assert registry.get_aliases("m") == {"production": 1} and not lock.exists()


def test_extra_json_artifacts_are_stored_with_their_sha256(registry, booster):
    profile = {"format": 1, "features": [{"name": "a", "shares": [0.25, 0.75]}]}
    version = registry.save_version(
        "m", booster, {"features": ["a"]}, {}, artifacts={"reference.json": profile}
    )
    folder = registry.root / "models" / "m" / str(version)
    data = (folder / "reference.json").read_bytes()
    metadata = registry.get_metadata("m")
    assert metadata["artifacts"]["reference.json"] == hashlib.sha256(data).hexdigest()
    assert registry.load(f"m:{version}").artifacts == {"reference.json": profile}
    (folder / "reference.json").write_bytes(data.replace(b"0.25", b"0.35"))
    with pytest.raises(StoreError, match="reference.json fails its sha256 check"):
        ModelRegistry(registry.root).load(f"m:{version}")


@pytest.mark.parametrize("filename", ["schema.json", "../x.json", "model.ubj", "a/b.json", "x"])
def test_extra_artifacts_cannot_take_a_registry_file_or_leave_the_folder(
    registry, booster, filename
):
    with pytest.raises(ValueError, match="not a valid artifact file name"):
        registry.save_version("m", booster, {}, {}, artifacts={filename: {}})
    assert registry.list_models() == []
