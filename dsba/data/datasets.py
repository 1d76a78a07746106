"""Uploaded datasets kept in the store as Parquet plus a JSON profile."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from dsba.data.ingestion import Dataset
from dsba.data.profile import profile_frame
from dsba.errors import InvalidInput, NotFound, StoreError
from dsba.store.atomic import atomic_write_json, read_json, remove_tree, staging_dir

DATASET_ID = re.compile(r"^[0-9a-f]{16}$")


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Make mixed-type object columns strings so Parquet can hold them."""
    fixed = frame.copy()
    for column in fixed.columns:
        if pd.api.types.is_object_dtype(fixed[column]):
            fixed[column] = fixed[column].map(lambda v: v if v is None else str(v))
    return fixed


def _index_name(info: dict[str, Any]) -> str:
    """<yyyymmddThhmmss>-<id>: names that sort by upload time, without a ':' SMB refuses."""
    stamp = re.sub(r"[^0-9T]", "", info["created_at"][:19])
    return f"{stamp}-{info['id']}"


class DatasetStore:
    """<root>/datasets/<id>/data.parquet + profile.json; the id comes from the content hash.

    <root>/datasets/index/ holds an empty file per dataset named by upload time, so the
    newest datasets are found by listing names, and only their profiles are opened.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "datasets"
        self.index = self.folder / "index"

    def _path(self, dataset_id: str) -> Path:
        if not DATASET_ID.match(dataset_id or ""):
            raise NotFound(f"no dataset {dataset_id!r}", {"dataset_id": dataset_id})
        return self.folder / dataset_id

    def save(self, dataset: Dataset, filename: str | None = None) -> dict[str, Any]:
        """Store a parsed dataset (idempotent for identical bytes); return its description."""
        dataset_id = dataset.fingerprint[:16]
        target = self._path(dataset_id)
        if (target / "profile.json").exists():
            return self.get(dataset_id)
        staging = staging_dir(self.root)
        try:
            _parquet_ready(dataset.frame).to_parquet(staging / "data.parquet", index=False)
        except OSError as exc:
            # Arrow's IO errors are OSErrors too: the store's fault, and their text has paths.
            remove_tree(staging, self.root)
            raise StoreError("dataset cannot be stored: the store could not be written") from exc
        except (pa.ArrowException, ValueError, TypeError) as exc:
            remove_tree(staging, self.root)
            raise InvalidInput(f"dataset cannot be stored: {str(exc)[:200]}") from exc
        description = {
            "id": dataset_id,
            "filename": Path(filename or dataset.source).name,
            "source": dataset.source,
            "format": dataset.format,
            "sha256": dataset.fingerprint,
            "bytes": dataset.n_bytes,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **profile_frame(dataset.frame),
        }
        atomic_write_json(staging / "profile.json", description)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, target)
        except OSError:
            # Someone stored the same bytes first: theirs is identical, drop ours.
            remove_tree(staging, self.root)
        info = self.get(dataset_id)
        self._mark(info)
        return info

    def _mark(self, info: dict[str, Any]) -> str:
        name = _index_name(info)
        self.index.mkdir(parents=True, exist_ok=True)
        (self.index / name).touch()
        return name

    def get(self, dataset_id: str) -> dict[str, Any]:
        """The stored profile of a dataset."""
        path = self._path(dataset_id) / "profile.json"
        if not path.exists():
            raise NotFound(f"no dataset {dataset_id!r}", {"dataset_id": dataset_id})
        return read_json(path)

    def load(self, dataset_id: str) -> Dataset:
        """The dataset's frame with its fingerprint, for training."""
        info = self.get(dataset_id)
        frame = pd.read_parquet(self._path(dataset_id) / "data.parquet")
        return Dataset(frame, info["sha256"], info["source"], info["format"], info["bytes"])

    def column(self, dataset_id: str, name: str) -> pd.Series:
        """One column of a stored dataset (Parquet reads only that column)."""
        self.get(dataset_id)
        frame = pd.read_parquet(self._path(dataset_id) / "data.parquet", columns=[name])
        return frame[name]

    def _header(self, dataset_id: str) -> dict[str, Any] | None:
        try:
            info = read_json(self.folder / dataset_id / "profile.json")
        except (OSError, ValueError):
            return None
        info.pop("preview", None)
        return info

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest stored datasets' profile headers (no preview), opening only those."""
        try:
            ids = {name for name in os.listdir(self.folder) if DATASET_ID.match(name)}
        except FileNotFoundError:
            return []
        try:
            marks = os.listdir(self.index)
        except FileNotFoundError:
            marks = []
        # A marker whose folder is gone (deleted by hand) is ignored.
        names = {name.partition("-")[2]: name for name in marks}
        names = {dataset_id: name for dataset_id, name in names.items() if dataset_id in ids}
        for dataset_id in ids - names.keys():
            # Stored before the index existed, or by a save stopped before marking it.
            info = self._header(dataset_id)
            if info is not None:
                names[dataset_id] = self._mark(info)
        items = []
        for name in sorted(names.values(), reverse=True):
            if limit is not None and len(items) >= limit:
                break
            info = self._header(name.partition("-")[2])
            if info is not None:
                items.append(info)
        return items
