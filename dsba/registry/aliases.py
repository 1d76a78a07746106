"""A model's aliases: names pointing at one version, or splitting traffic between several.

They live in <root>/models/<name>/aliases.json as {"production": 3, "canary": {"3": 0.9,
"4": 0.1}}. Every change is a read-modify-write of that file under the model's alias lock,
so writers in other processes or containers never lose each other's changes; the registry
checks that versions exist, and deletes them, under the same lock.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dsba.errors import Conflict, InvalidInput, NotFound, StoreError
from dsba.registry.refs import is_version_text, validate_version
from dsba.store import atomic
from dsba.store.locks import FolderLock, LockLost, folder_lock

ALIASES_FILE = "aliases.json"
# Held (a folder, see dsba.store.locks) while aliases.json is read, changed and replaced, and
# while one of the model's versions is deleted.
ALIASES_LOCK = "aliases.lock"

Target = int | dict[str, float]


def read_aliases(model_dir: Path, name: str) -> dict[str, Target]:
    """The model's aliases as stored: alias -> version, or alias -> {"version": weight}."""
    path = model_dir / ALIASES_FILE
    if not path.exists():
        return {}
    aliases = atomic.read_store_json(path, f"aliases of {name!r}")
    if not isinstance(aliases, dict) or not all(
        isinstance(t, int) or (isinstance(t, dict) and all(is_version_text(v) for v in t))
        for t in aliases.values()
    ):
        raise StoreError(f"aliases of {name!r} are malformed")
    return aliases


@contextlib.contextmanager
def locked(model_dir: Path, name: str) -> Iterator[FolderLock]:
    """Hold the model's alias lock: aliases change, and versions are deleted, only under it."""
    try:
        with folder_lock(model_dir / ALIASES_LOCK) as lock:
            yield lock
    except (TimeoutError, LockLost) as exc:
        raise Conflict(f"the aliases of {name!r} are being changed; try again") from exc


def write_alias(
    lock: FolderLock, model_dir: Path, name: str, alias: str, value: Target | None
) -> None:
    """Set an alias to value, or remove it when value is None; the caller holds the lock."""
    aliases = read_aliases(model_dir, name)
    if value is None:
        if alias not in aliases:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        del aliases[alias]
    else:
        aliases[alias] = value
    lock.write_json(model_dir / ALIASES_FILE, aliases)


def drop_version(lock: FolderLock, model_dir: Path, name: str, version: int) -> None:
    """Remove a version from every alias (a split keeps its other versions, reweighted)."""
    aliases = read_aliases(model_dir, name)
    kept: dict[str, Target] = {}
    for alias, target in aliases.items():
        if isinstance(target, int):
            if target != version:
                kept[alias] = target
            continue
        rest = {int(v): w for v, w in target.items() if int(v) != version}
        if rest:
            kept[alias] = split_value(rest)
    if kept != aliases:
        lock.write_json(model_dir / ALIASES_FILE, kept)


def check_weights(weights: Any) -> None:
    """Refuse a split that is empty or has a version or weight that is not usable."""
    if not isinstance(weights, dict) or not weights:
        raise InvalidInput("an alias split needs at least one version and weight")
    for version, weight in weights.items():
        validate_version(version)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise InvalidInput(f"weight of version {version} must be a number")
        if not (math.isfinite(weight) and weight > 0):
            raise InvalidInput(f"weight of version {version} must be positive, got {weight}")


def split_value(weights: dict[int, float]) -> Target:
    """What is stored for weights: the version alone, or weights that sum to one."""
    total = sum(weights.values())
    if len(weights) == 1:
        return next(iter(weights))
    return {str(version): weight / total for version, weight in sorted(weights.items())}
