"""Model registry: versioned XGBoost models in a folder tree, safe on a local disk or an SMB share.

A version is written into a staging folder and renamed into place, so it is complete or absent.
Version numbers are folder names; when a rename finds its target taken, another writer won that
number and this writer moves on to the next one. Saving takes no lock and there is no database,
so any number of processes and containers can share one root; alias changes and deletions hold
the model's alias lock (a folder, see dsba.store.locks).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xgboost

from dsba.errors import InvalidInput, NotFound, StoreError
from dsba.registry import aliases
from dsba.registry.refs import (
    NAME_PATTERN,
    ModelRef,
    is_version_text,
    parse_ref,
    validate_name,
    validate_version,
)
from dsba.store import atomic
from dsba.store.stamps import StampedMemo, stamp

MODEL_FILE = "model.ubj"
SCHEMA_FILE = "schema.json"
METADATA_FILE = "metadata.json"
# Written into a deleted version's folder and kept: the folder stays non-empty, so no later
# rename can land on it and the number is never issued again.
TOMBSTONE_FILE = "deleted.json"
# Written into a model's folder by delete_model, in one atomic step: every version up to this
# number is deleted. The versions' tombstones follow; this record is what makes the whole model
# go at once, even when the deleting process is killed before it has tombstoned them all.
DELETED_UPTO_FILE = "deleted-upto.json"
_MAX_ATTEMPTS = 1000
_ARTIFACT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.json")
LATEST_TTL_SECONDS = 1.0


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One version's booster, schema, metadata and extra JSON artifacts, verified by sha256."""

    name: str
    version: int
    booster: xgboost.Booster
    schema: dict
    metadata: dict
    # Extra JSON artifacts by file name (the reference profile), read with the version: they
    # are immutable, so a prediction or a page view never reads them from the store again.
    artifacts: dict = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """Return the pinned reference 'name:version'."""
        return f"{self.name}:{self.version}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json_bytes(payload: dict, what: str) -> bytes:
    if not isinstance(payload, dict):
        raise InvalidInput(f"{what} must be a dict, got {type(payload).__name__}")
    try:
        return json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be stored as JSON: {exc}") from exc


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _artifact_name(filename: str) -> str:
    """An extra artifact's file name: plain, JSON, and not one the registry writes itself."""
    reserved = {MODEL_FILE, SCHEMA_FILE, METADATA_FILE, TOMBSTONE_FILE}
    if not _ARTIFACT_NAME.fullmatch(filename) or filename in reserved:
        raise ValueError(f"not a valid artifact file name: {filename!r}")
    return filename


def _fsync_dir(path: Path) -> None:
    # Persists the folder's entries; SMB and some filesystems refuse this, and the rename
    # still gives all-or-nothing visibility, so a refusal is not an error.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _target_taken(exc: OSError, target: Path) -> bool:
    if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return True
    # SMB may answer a rename onto an existing folder with another errno (e.g. EACCES).
    return target.exists()


class ModelRegistry:
    """Versioned models under <root>/models, shared safely by any number of processes."""

    def __init__(self, root: Path, cache_size: int = 16) -> None:
        self.root = Path(root)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        # Told True for a cache hit, False for a load from the store (metrics hook).
        self.on_cache: Callable[[bool], None] | None = None
        # What references resolved to, so a prediction costs a stat or two, not a folder scan.
        self._memo = StampedMemo(LATEST_TTL_SECONDS)
        self._models = os.path.join(self.root, "models")

    def _model_dir(self, name: str) -> Path:
        return self.root / "models" / name

    def _listing(self, name: str) -> tuple[dict[int, Path], bool]:
        """Every numbered entry of a model, and whether a whole-model deletion is recorded."""
        found: dict[int, Path] = {}
        marked = False
        try:
            with os.scandir(self._model_dir(name)) as entries:
                for entry in entries:
                    if is_version_text(entry.name):
                        found[int(entry.name)] = Path(entry.path)
                    marked = marked or entry.name == DELETED_UPTO_FILE
        except FileNotFoundError:
            pass
        return found, marked

    def _entries(self, name: str) -> dict[int, Path]:
        """Every numbered entry of a model: versions, tombstones and leftovers alike."""
        return self._listing(name)[0]

    def _deleted_upto(self, name: str) -> int:
        """The highest version a whole-model deletion removed; 0 if none did."""
        try:
            record = json.loads((self._model_dir(name) / DELETED_UPTO_FILE).read_bytes())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise StoreError(f"the deletion record of {name!r} is unreadable") from exc
        upto = record.get("version") if isinstance(record, dict) else None
        if isinstance(upto, bool) or not isinstance(upto, int):
            raise StoreError(f"the deletion record of {name!r} is malformed")
        return upto

    @staticmethod
    def _is_version(path: Path) -> bool:
        return (path / METADATA_FILE).is_file() and not (path / TOMBSTONE_FILE).exists()

    def _versions(self, name: str) -> list[int]:
        entries, marked = self._listing(name)
        upto = self._deleted_upto(name) if marked else 0
        return sorted(v for v, path in entries.items() if v > upto and self._is_version(path))

    def _require_version(self, name: str, version: int) -> Path:
        path = self._model_dir(name) / str(version)
        if not self._is_version(path) or version <= self._deleted_upto(name):
            self.list_versions(name)
            raise NotFound(f"model {name!r} has no version {version}")
        return path

    def save_version(
        self,
        name: str,
        booster: xgboost.Booster,
        schema: dict,
        metadata: dict,
        artifacts: dict[str, dict] | None = None,
    ) -> int:
        """Store a new immutable version (with extra JSON artifacts) and return its number."""
        validate_name(name)
        extra = {
            _artifact_name(filename): _json_bytes(payload, filename)
            for filename, payload in (artifacts or {}).items()
        }
        schema_bytes = _json_bytes(schema, "schema")
        _json_bytes(metadata, "metadata")
        model_bytes = bytes(booster.save_raw("ubj"))
        files = {MODEL_FILE: model_bytes, SCHEMA_FILE: schema_bytes, **extra}
        record = {
            **metadata,
            "name": name,
            "created_at": _now(),
            "artifacts": {filename: atomic.sha256_bytes(data) for filename, data in files.items()},
        }
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = atomic.staging_dir(self.root)
        try:
            for filename, data in files.items():
                _write_file(staging / filename, data)
            version = max(self._entries(name), default=0) + 1
            for _ in range(_MAX_ATTEMPTS):
                record["version"] = version
                _write_file(staging / METADATA_FILE, _json_bytes(record, "metadata"))
                _fsync_dir(staging)
                target = model_dir / str(version)
                try:
                    os.rename(staging, target)
                except OSError as exc:
                    if not _target_taken(exc, target):
                        raise
                    version = max([version, *self._entries(name)]) + 1
                    continue
                _fsync_dir(model_dir)
                self._memo.forget(("latest", name))
                return version
            raise StoreError(f"could not allocate a version of {name!r}: too many concurrent saves")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def list_models(self) -> list[dict]:
        """Return every model with its versions, aliases and latest metadata, sorted by name."""
        try:
            with os.scandir(self.root / "models") as entries:
                names = sorted(e.name for e in entries if re.fullmatch(NAME_PATTERN, e.name))
        except FileNotFoundError:
            return []
        models = []
        for name in names:
            versions = self._versions(name)
            if not versions:
                continue
            try:
                latest = atomic.read_store_json(
                    self._model_dir(name) / str(versions[-1]) / METADATA_FILE, name
                )
            except NotFound:
                continue  # deleted between listing and reading
            models.append(
                {
                    "name": name,
                    "latest_version": versions[-1],
                    "versions": versions,
                    "aliases": aliases.read_aliases(self._model_dir(name), name),
                    "latest": latest,
                }
            )
        return models

    def list_versions(self, name: str) -> list[int]:
        """Return a model's version numbers in ascending order."""
        versions = self._versions(validate_name(name))
        if not versions:
            raise NotFound(f"model {name!r} not found")
        return versions

    def _latest(self, name: str) -> int:
        """The newest version; remembered while its folder and the model's are unchanged."""
        key = ("latest", name)
        version = self._memo.get(key)
        if version is None:
            folder = os.path.join(self._models, name)
            before = stamp(folder)
            version = self.list_versions(name)[-1]
            # A new version is renamed into the model's folder and a deletion writes a
            # tombstone into the version's: either changes a stamp. (A deletion between the
            # listing and this stat is seen when the memo expires.)
            path = os.path.join(folder, str(version))
            self._memo.put(key, version, {folder: before, path: stamp(path)})
        return version

    def _check_version(self, name: str, version: int) -> None:
        """Raise NotFound unless the version exists; remembered while its folder is unchanged."""
        key = ("version", name, version)
        if self._memo.get(key) is None:
            path = os.path.join(self._models, name, str(version))
            before = stamp(path)
            self._require_version(name, version)
            self._memo.put(key, True, {path: before})

    def _current_aliases(self, name: str) -> dict:
        """The model's aliases (not to be changed); remembered while the file is unchanged."""
        key = ("aliases", name)
        current = self._memo.get(key)
        if current is None:
            path = os.path.join(self._models, name, aliases.ALIASES_FILE)
            before = stamp(path)
            current = aliases.read_aliases(self._model_dir(name), name)
            self._memo.put(key, current, {path: before})
        return current

    def resolve(self, ref: str | ModelRef, rng: random.Random | None = None) -> tuple[str, int]:
        """Return the (name, version) a reference points at now; splits pick by weight."""
        parsed = ref if isinstance(ref, ModelRef) else parse_ref(ref)
        name = parsed.name
        if parsed.version is not None:
            self._check_version(name, parsed.version)
            return name, parsed.version
        if parsed.alias is None:
            return name, self._latest(name)
        target = self._current_aliases(name).get(parsed.alias)
        if target is None:
            self.list_versions(name)
            raise NotFound(f"model {name!r} has no alias {parsed.alias!r}")
        if isinstance(target, dict):
            versions = [int(version) for version in target]
            target = (rng or random).choices(versions, weights=list(target.values()))[0]
        try:
            self._check_version(name, target)
        except NotFound as exc:
            raise NotFound(f"{parsed} points at version {target}, which does not exist") from exc
        return name, target

    def get_metadata(self, ref: str) -> dict:
        """Return the metadata of the version a reference points at."""
        name, version = self.resolve(ref)
        path = self._model_dir(name) / str(version) / METADATA_FILE
        return atomic.read_store_json(path, f"metadata of {name}:{version}")

    def get_schema(self, ref: str) -> dict:
        """Return the schema of the version a reference points at."""
        name, version = self.resolve(ref)
        path = self._model_dir(name) / str(version) / SCHEMA_FILE
        return atomic.read_store_json(path, f"schema of {name}:{version}")

    def load(self, ref: str) -> LoadedModel:
        """Return a verified, cached model for a reference."""
        key = self.resolve(ref)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is not None:
            if self.on_cache:
                self.on_cache(True)
            return hit
        loaded = self._read_version(*key)
        if self.on_cache:
            self.on_cache(False)
        with self._lock:
            # Another thread may have loaded the same version meanwhile: keep one object.
            loaded = self._cache.setdefault(key, loaded)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return loaded

    def _read_version(self, name: str, version: int) -> LoadedModel:
        path = self._model_dir(name) / str(version)
        label = f"{name}:{version}"
        try:
            model_bytes = (path / MODEL_FILE).read_bytes()
            schema_bytes = (path / SCHEMA_FILE).read_bytes()
            metadata = json.loads((path / METADATA_FILE).read_bytes())
            schema = json.loads(schema_bytes)
        except FileNotFoundError as exc:
            if not self._is_version(path):
                raise NotFound(f"model {label} was deleted") from exc
            missing = Path(exc.filename or "a file").name
            raise StoreError(f"model {label} is incomplete: {missing} is missing") from exc
        except (OSError, ValueError) as exc:
            # The OS error names server paths: it stays in the cause, which the server logs.
            raise StoreError(f"model {label} is unreadable") from exc
        artifacts = metadata.get("artifacts") if isinstance(metadata, dict) else None
        if not isinstance(artifacts, dict):
            raise StoreError(f"model {label} has no artifact checksums in its metadata")
        if metadata.get("name") != name or metadata.get("version") != version:
            raise StoreError(f"model {label} holds metadata of another version")
        for filename, data in ((MODEL_FILE, model_bytes), (SCHEMA_FILE, schema_bytes)):
            if artifacts.get(filename) != atomic.sha256_bytes(data):
                raise StoreError(f"model {label} is corrupt: {filename} fails its sha256 check")
        extras = {
            filename: self._read_extra(path, label, filename, expected)
            for filename, expected in artifacts.items()
            if filename not in (MODEL_FILE, SCHEMA_FILE) and _ARTIFACT_NAME.fullmatch(filename)
        }
        booster = xgboost.Booster()
        try:
            booster.load_model(bytearray(model_bytes))
        except xgboost.core.XGBoostError as exc:
            raise StoreError(f"model {label} cannot be loaded by XGBoost") from exc
        return LoadedModel(name, version, booster, schema, metadata, extras)

    @staticmethod
    def _read_extra(path: Path, label: str, filename: str, expected: str) -> Any:
        """An extra JSON artifact of a version folder, checked against its sha256."""
        try:
            data = (path / filename).read_bytes()
        except OSError as exc:
            raise StoreError(f"model {label} is incomplete: {filename} is unreadable") from exc
        if atomic.sha256_bytes(data) != expected:
            raise StoreError(f"model {label} is corrupt: {filename} fails its sha256 check")
        return json.loads(data)

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version at once, drop it from aliases, and never reissue its number."""
        self._require_version(validate_name(name), validate_version(version))
        model_dir = self._model_dir(name)
        # Under the alias lock, which set_alias holds while it checks the versions it points at,
        # so no alias can land on a deleted version. Aliases go first: a kill between the two
        # leaves the version with fewer aliases, never an alias on a missing version.
        with aliases.locked(model_dir, name) as lock:
            path = self._require_version(name, version)
            aliases.drop_version(lock, model_dir, name, version)
            # The tombstone hides the version in one atomic step; the folder itself stays.
            lock.write_json(path / TOMBSTONE_FILE, {"deleted_at": _now()})
        self._memo.forget(("latest", name))
        self._memo.forget(("version", name, version))
        for filename in (MODEL_FILE, SCHEMA_FILE, METADATA_FILE):
            (path / filename).unlink(missing_ok=True)
        with self._lock:
            self._cache.pop((name, version), None)

    def delete_model(self, name: str) -> dict[str, Any]:
        """Delete every version and alias of a model; return what went. Numbers stay issued.

        All under the alias lock, so an alias move waits and then finds no version to point
        at. A version saved meanwhile is either listed here and deleted, or lands after with
        a higher number (tombstones keep every deleted number taken) as the model's only one.
        The deletion record is the one step that deletes them all: a kill before it leaves
        the versions whole (maybe without their aliases), a kill after it the model gone.
        """
        self.list_versions(validate_name(name))
        model_dir = self._model_dir(name)
        with aliases.locked(model_dir, name) as lock:
            versions = self._versions(name)
            if not versions:
                raise NotFound(f"model {name!r} not found")
            removed = aliases.read_aliases(model_dir, name)
            if removed:
                lock.write_json(model_dir / aliases.ALIASES_FILE, {})
            record = {"version": versions[-1], "deleted_at": _now()}
            lock.write_json(model_dir / DELETED_UPTO_FILE, record)
            for version in versions:
                lock.write_json(model_dir / str(version) / TOMBSTONE_FILE, {"deleted_at": _now()})
        self._memo.forget(("latest", name))
        for version in versions:
            self._memo.forget(("version", name, version))
            for filename in (MODEL_FILE, SCHEMA_FILE, METADATA_FILE):
                (model_dir / str(version) / filename).unlink(missing_ok=True)
            with self._lock:
                self._cache.pop((name, version), None)
        return {"name": name, "versions": versions, "aliases": removed}

    def version_files(self, name: str, version: int) -> dict[str, Path]:
        """The files of one version (model, schema, metadata, extra artifacts) by file name."""
        path = self._require_version(validate_name(name), validate_version(version))
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries if e.is_file() and e.name != TOMBSTONE_FILE)
        return {filename: path / filename for filename in names}

    def get_aliases(self, name: str) -> dict:
        """Return a model's aliases: alias -> version, or alias -> {"version": weight}."""
        self.list_versions(name)
        return aliases.read_aliases(self._model_dir(name), name)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point an alias at one version."""
        self.set_alias_split(name, alias, {version: 1.0})

    def set_alias_split(self, name: str, alias: str, weights: dict[int, float]) -> None:
        """Point an alias at several versions, each picked with a probability of its weight."""
        validate_name(name)
        validate_name(alias, "alias")
        aliases.check_weights(weights)
        for version in weights:
            self._require_version(name, version)
        model_dir = self._model_dir(name)
        with aliases.locked(model_dir, name) as lock:
            # Checked again under the lock delete_version holds: one may have run meanwhile.
            for version in weights:
                self._require_version(name, version)
            aliases.write_alias(lock, model_dir, name, alias, aliases.split_value(weights))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; the versions it pointed at stay."""
        validate_name(name)
        validate_name(alias, "alias")
        self.list_versions(name)
        model_dir = self._model_dir(name)
        with aliases.locked(model_dir, name) as lock:
            aliases.write_alias(lock, model_dir, name, alias, None)

    def is_writable(self) -> bool:
        """Return True if a probe file can be written, read back and deleted under the root."""
        probe = self.root / "tmp" / f"probe-{uuid.uuid4().hex}"
        payload = uuid.uuid4().bytes
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(payload)
            readable = probe.read_bytes() == payload
            probe.unlink()
        except OSError:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)
            return False
        return readable
