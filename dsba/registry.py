"""Model registry: versioned XGBoost models in a folder tree, safe on a local disk or an SMB share.

A version is written into a staging folder and renamed into place, so it is complete or absent.
Version numbers are folder names; when a rename finds its target taken, another writer won that
number and this writer moves on to the next one. No locks and no database, so any number of
processes and containers can share one root.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import random
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xgboost

from dsba import storage
from dsba.errors import InvalidInput, NotFound, StoreError

_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"
NAME_PATTERN = rf"^{_NAME}$"
# Nine digits keeps every version a short, plain path component.
_MAX_VERSION = 999_999_999
_REF = re.compile(rf"(?P<name>{_NAME})(?::(?P<version>[1-9][0-9]{{0,8}})|@(?P<alias>{_NAME}))?")

MODEL_FILE = "model.ubj"
SCHEMA_FILE = "schema.json"
METADATA_FILE = "metadata.json"
ALIASES_FILE = "aliases.json"
# Written into a deleted version's folder and kept: the folder stays non-empty, so no later
# rename can land on it and the number is never issued again.
TOMBSTONE_FILE = "deleted.json"
_MAX_ATTEMPTS = 1000
LATEST_TTL_SECONDS = 1.0
_NAME_RULE = "1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"


def validate_name(name: str, what: str = "model name") -> str:
    """Return name if it is a valid model or alias name, else raise InvalidInput."""
    if not isinstance(name, str) or re.fullmatch(NAME_PATTERN, name) is None:
        raise InvalidInput(f"invalid {what} {name!r}: use {_NAME_RULE}")
    return name


def _validate_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= _MAX_VERSION:
        raise InvalidInput(f"invalid version {version!r}: versions are positive integers")
    return version


@dataclass(frozen=True)
class ModelRef:
    """A model reference: the latest version, a pinned version, or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.version is not None:
            _validate_version(self.version)
        if self.alias is not None:
            validate_name(self.alias, "alias")
        if self.version is not None and self.alias is not None:
            raise InvalidInput("a model reference names a version or an alias, not both")

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str) -> ModelRef:
    """Parse 'name', 'name:3' or 'name@alias'; anything else raises InvalidInput."""
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidInput(
            f"invalid model reference {ref!r}: expected 'name', 'name:<version>' or "
            f"'name@<alias>', where names have {_NAME_RULE} and versions are positive integers",
            errors={"ref": "invalid model reference"},
        )
    version = match["version"]
    return ModelRef(match["name"], int(version) if version else None, match["alias"])


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One version's booster, schema and metadata, verified against their sha256."""

    name: str
    version: int
    booster: xgboost.Booster
    schema: dict
    metadata: dict

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


def _fsync_dir(path: Path) -> None:
    # Persists the folder's entries; SMB and some filesystems refuse this, and the rename
    # still gives all-or-nothing visibility, so a refusal is not an error.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_number(entry: str) -> bool:
    return entry.isascii() and entry.isdigit() and entry[0] != "0" and len(entry) <= 9


def _target_taken(exc: OSError, target: Path) -> bool:
    if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
        return True
    # SMB may answer a rename onto an existing folder with another errno (e.g. EACCES).
    return target.exists()


def _split_value(weights: dict[int, float]) -> int | dict[str, float]:
    total = sum(weights.values())
    if len(weights) == 1:
        return next(iter(weights))
    return {str(version): weight / total for version, weight in sorted(weights.items())}


def _read_json(path: Path, what: str) -> Any:
    try:
        return storage.read_json(path)
    except FileNotFoundError as exc:
        raise NotFound(f"{what} not found") from exc
    except (OSError, ValueError) as exc:
        raise StoreError(f"{what} is unreadable: {exc}") from exc


class ModelRegistry:
    """Versioned models under <root>/models, shared safely by any number of processes."""

    def __init__(self, root: Path, cache_size: int = 16) -> None:
        self.root = Path(root)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        # Told True for a cache hit, False for a load from the store (metrics hook).
        self.on_cache: Callable[[bool], None] | None = None
        self._latest_cache: dict[str, tuple[int | None, float, int]] = {}

    def _model_dir(self, name: str) -> Path:
        return self.root / "models" / name

    def _entries(self, name: str) -> dict[int, Path]:
        """Every numbered entry of a model: versions, tombstones and leftovers alike."""
        try:
            with os.scandir(self._model_dir(name)) as entries:
                return {int(e.name): Path(e.path) for e in entries if _is_number(e.name)}
        except FileNotFoundError:
            return {}

    @staticmethod
    def _is_version(path: Path) -> bool:
        return (path / METADATA_FILE).is_file() and not (path / TOMBSTONE_FILE).exists()

    def _versions(self, name: str) -> list[int]:
        return sorted(v for v, path in self._entries(name).items() if self._is_version(path))

    def _require_version(self, name: str, version: int) -> Path:
        path = self._model_dir(name) / str(version)
        if not self._is_version(path):
            self.list_versions(name)
            raise NotFound(f"model {name!r} has no version {version}")
        return path

    def save_version(
        self, name: str, booster: xgboost.Booster, schema: dict, metadata: dict
    ) -> int:
        """Store a new immutable version of a model and return its number."""
        validate_name(name)
        schema_bytes = _json_bytes(schema, "schema")
        _json_bytes(metadata, "metadata")
        model_bytes = bytes(booster.save_raw("ubj"))
        record = {
            **metadata,
            "name": name,
            "created_at": _now(),
            "artifacts": {
                MODEL_FILE: storage.sha256_bytes(model_bytes),
                SCHEMA_FILE: storage.sha256_bytes(schema_bytes),
            },
        }
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = storage.staging_dir(self.root)
        try:
            _write_file(staging / MODEL_FILE, model_bytes)
            _write_file(staging / SCHEMA_FILE, schema_bytes)
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
                self._latest_cache.pop(name, None)
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
                latest = _read_json(self._model_dir(name) / str(versions[-1]) / METADATA_FILE, name)
            except NotFound:
                continue  # deleted between listing and reading
            models.append(
                {
                    "name": name,
                    "latest_version": versions[-1],
                    "versions": versions,
                    "aliases": self._read_aliases(name),
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
        """The newest version, remembered while the model folder is unchanged (for a moment)."""
        folder = self._model_dir(name)
        try:
            stamp = folder.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        now = time.monotonic()
        cached = self._latest_cache.get(name)
        # A new version is renamed into the folder, which changes its mtime; a deletion is a
        # tombstone inside the version, caught by _is_version. The TTL covers shares whose
        # mtime is coarser than the time between two writers.
        if (
            cached is not None
            and cached[0] == stamp
            and now - cached[1] < LATEST_TTL_SECONDS
            and self._is_version(folder / str(cached[2]))
        ):
            return cached[2]
        version = self.list_versions(name)[-1]
        self._latest_cache[name] = (stamp, now, version)
        return version

    def resolve(self, ref: str | ModelRef, rng: random.Random | None = None) -> tuple[str, int]:
        """Return the (name, version) a reference points at now; splits pick by weight."""
        parsed = ref if isinstance(ref, ModelRef) else parse_ref(ref)
        name = parsed.name
        if parsed.version is not None:
            self._require_version(name, parsed.version)
            return name, parsed.version
        if parsed.alias is None:
            return name, self._latest(name)
        # Aliases first: the per-request path stays two file reads, not a folder scan.
        target = self._read_aliases(name).get(parsed.alias)
        if target is None:
            self.list_versions(name)
            raise NotFound(f"model {name!r} has no alias {parsed.alias!r}")
        if isinstance(target, dict):
            versions = [int(version) for version in target]
            target = (rng or random).choices(versions, weights=list(target.values()))[0]
        try:
            self._require_version(name, target)
        except NotFound as exc:
            raise NotFound(f"{parsed} points at version {target}, which does not exist") from exc
        return name, target

    def get_metadata(self, ref: str) -> dict:
        """Return the metadata of the version a reference points at."""
        name, version = self.resolve(ref)
        path = self._model_dir(name) / str(version) / METADATA_FILE
        return _read_json(path, f"metadata of {name}:{version}")

    def get_schema(self, ref: str) -> dict:
        """Return the schema of the version a reference points at."""
        name, version = self.resolve(ref)
        path = self._model_dir(name) / str(version) / SCHEMA_FILE
        return _read_json(path, f"schema of {name}:{version}")

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
            raise StoreError(f"model {label} is incomplete: {exc.filename} is missing") from exc
        except (OSError, ValueError) as exc:
            raise StoreError(f"model {label} is unreadable: {exc}") from exc
        artifacts = metadata.get("artifacts") if isinstance(metadata, dict) else None
        if not isinstance(artifacts, dict):
            raise StoreError(f"model {label} has no artifact checksums in its metadata")
        if metadata.get("name") != name or metadata.get("version") != version:
            raise StoreError(f"model {label} holds metadata of another version")
        for filename, data in ((MODEL_FILE, model_bytes), (SCHEMA_FILE, schema_bytes)):
            if artifacts.get(filename) != storage.sha256_bytes(data):
                raise StoreError(f"model {label} is corrupt: {filename} fails its sha256 check")
        booster = xgboost.Booster()
        try:
            booster.load_model(bytearray(model_bytes))
        except xgboost.core.XGBoostError as exc:
            raise StoreError(f"model {label} cannot be loaded by XGBoost: {exc}") from exc
        return LoadedModel(name, version, booster, schema, metadata)

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version at once, drop it from aliases, and never reissue its number."""
        path = self._require_version(validate_name(name), _validate_version(version))
        self._latest_cache.pop(name, None)
        aliases = self._read_aliases(name)
        kept: dict[str, Any] = {}
        for alias, target in aliases.items():
            if isinstance(target, int):
                if target != version:
                    kept[alias] = target
                continue
            rest = {int(v): w for v, w in target.items() if int(v) != version}
            if rest:
                kept[alias] = _split_value(rest)
        if kept != aliases:
            storage.atomic_write_json(self._model_dir(name) / ALIASES_FILE, kept)
        # The tombstone hides the version in one atomic step; the folder itself stays.
        storage.atomic_write_json(path / TOMBSTONE_FILE, {"deleted_at": _now()})
        for filename in (MODEL_FILE, SCHEMA_FILE, METADATA_FILE):
            (path / filename).unlink(missing_ok=True)
        with self._lock:
            self._cache.pop((name, version), None)

    def _read_aliases(self, name: str) -> dict:
        path = self._model_dir(name) / ALIASES_FILE
        if not path.exists():
            return {}
        aliases = _read_json(path, f"aliases of {name!r}")
        if not isinstance(aliases, dict) or not all(
            isinstance(t, int) or (isinstance(t, dict) and all(_is_number(v) for v in t))
            for t in aliases.values()
        ):
            raise StoreError(f"aliases of {name!r} are malformed")
        return aliases

    def get_aliases(self, name: str) -> dict:
        """Return a model's aliases: alias -> version, or alias -> {"version": weight}."""
        self.list_versions(name)
        return self._read_aliases(name)

    def _write_alias(self, name: str, alias: str, value: int | dict[str, float] | None) -> None:
        aliases = self._read_aliases(name)
        if value is None:
            if alias not in aliases:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            del aliases[alias]
        else:
            aliases[alias] = value
        storage.atomic_write_json(self._model_dir(name) / ALIASES_FILE, aliases)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point an alias at one version."""
        self.set_alias_split(name, alias, {version: 1.0})

    def set_alias_split(self, name: str, alias: str, weights: dict[int, float]) -> None:
        """Point an alias at several versions, each picked with a probability of its weight."""
        validate_name(name)
        validate_name(alias, "alias")
        if not isinstance(weights, dict) or not weights:
            raise InvalidInput("an alias split needs at least one version and weight")
        for version, weight in weights.items():
            _validate_version(version)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise InvalidInput(f"weight of version {version} must be a number")
            if not (math.isfinite(weight) and weight > 0):
                raise InvalidInput(f"weight of version {version} must be positive, got {weight}")
        for version in weights:
            self._require_version(name, version)
        self._write_alias(name, alias, _split_value(weights))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; the versions it pointed at stay."""
        validate_name(name)
        validate_name(alias, "alias")
        self.list_versions(name)
        self._write_alias(name, alias, None)

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
