"""What a scored batch's values gave the model: unseen categories and missing values, by row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dsba.data.schema import CATEGORICAL, DATETIME, FeatureSchema, to_python

EXAMPLES = 5
SHOWN_ROWS = 10
SHOWN_CATEGORIES = 12


@dataclass
class InputReport:
    """Per row, the features without a usable value; per column, the unseen values given."""

    features: int
    # Per row: features that were missing or held a value the model never saw.
    unusable: np.ndarray
    # Column -> (rows, values given there) for values treated as missing because unseen.
    unseen: dict[str, tuple[np.ndarray, list[Any]]]
    # Column -> rows with no value at all (not counting unseen ones).
    missing: dict[str, int]

    @classmethod
    def from_matrix(
        cls, names: list[str], x: np.ndarray, unseen: dict[str, tuple[list[int], list[Any]]]
    ) -> InputReport:
        """Report on a matrix with one column per feature, NaN where it has no value."""
        empty = np.isnan(x)
        if not unseen and not empty.any():
            return cls.clean(names, len(x))
        counts = empty.sum(axis=0).tolist()
        gone = {name: (np.asarray(rows), values) for name, (rows, values) in unseen.items()}
        missing = {
            name: count - len(unseen.get(name, ((), ()))[0])
            for name, count in zip(names, counts, strict=True)
        }
        return cls(len(names), empty.sum(axis=1), gone, missing)

    @classmethod
    def clean(cls, names: list[str], rows: int) -> InputReport:
        """Report on rows where every feature had a usable value: the common case, kept cheap
        (it runs on every request of the JSON fast path)."""
        return cls(len(names), np.zeros(rows, dtype=np.int64), {}, dict.fromkeys(names, 0))

    @property
    def complete(self) -> bool:
        """Whether every row had a usable value for every feature (unusable is all zeros).

        Read from the per-column counts, which say the same as unusable without a numpy call:
        a row's unusable features are its missing ones and its unseen ones.
        """
        return not self.unseen and not any(self.missing.values())

    @classmethod
    def from_frame(cls, schema: FeatureSchema, frame: pd.DataFrame, x: pd.DataFrame) -> InputReport:
        """Report on the matrix prepare_features built from frame."""
        unusable = np.zeros(len(frame), dtype=np.int64)
        unseen: dict[str, tuple[np.ndarray, list[Any]]] = {}
        missing: dict[str, int] = {}
        for feature in schema.features:
            column = f"{feature.name}__year" if feature.kind == DATETIME else feature.name
            empty = x[column].isna().to_numpy()
            unusable += empty
            rows = np.zeros(0, dtype=np.int64)
            # Numbers, booleans and dates that cannot be read are errors: only a category the
            # model never saw turns a given value into a missing one.
            if feature.kind == CATEGORICAL and feature.name in frame.columns:
                given = frame[feature.name]
                rows = np.flatnonzero(empty & given.notna().to_numpy())
                if len(rows):
                    unseen[feature.name] = (rows, [to_python(v) for v in given.iloc[rows]])
            missing[feature.name] = int(empty.sum()) - len(rows)
        return cls(len(schema.features), unusable, unseen, missing)

    @property
    def unreliable(self) -> np.ndarray:
        """Rows where most features had no usable value: little of the row reached the model."""
        return self.unusable * 2 > self.features

    def warnings(self) -> list[str]:
        """One sentence on the unreliable rows, if there are any."""
        if self.complete:
            return []
        rows = np.flatnonzero(self.unreliable)
        if not len(rows):
            return []
        rows_have = "1 row has" if len(rows) == 1 else f"{len(rows)} rows have"
        return [
            f"{rows_have} most of the {self.features} features unseen or missing; "
            f"their predictions rest on the few left (rows {rows[:5].tolist()})"
        ]

    def row_flags(self) -> dict[int, dict[str, Any]]:
        """Per flagged row: "unseen" ({column: value}) and "unreliable" (true) where they apply."""
        if self.complete:
            return {}
        flags = {row: {"unseen": unseen} for row, unseen in self.row_unseen().items()}
        for row in np.flatnonzero(self.unreliable).tolist():
            flags.setdefault(row, {})["unreliable"] = True
        return flags

    def row_unseen(self) -> dict[int, dict[str, Any]]:
        """For each row with unseen values, {column: value given}."""
        found: dict[int, dict[str, Any]] = {}
        for name, (rows, values) in self.unseen.items():
            for row, value in zip(rows.tolist(), values, strict=True):
                found.setdefault(row, {})[name] = value
        return found

    def row_notes(self) -> tuple[np.ndarray, list[str]]:
        """Per row: the count of unseen values, and a note naming them ('' when all is well)."""
        rows = len(self.unusable)
        counts = np.zeros(rows, dtype=np.int64)
        notes = [""] * rows
        for row, given in self.row_unseen().items():
            counts[row] = len(given)
            notes[row] = "unseen " + ", ".join(f"{k}={v!r}" for k, v in given.items())
        for row in np.flatnonzero(self.unreliable).tolist():
            most = f"unreliable: {self.unusable[row]} of {self.features} features unseen or missing"
            notes[row] = f"{notes[row]}; {most}" if notes[row] else most
        return counts, notes

    def summary(self, schema: FeatureSchema) -> dict[str, Any]:
        """A JSON-ready digest: per column the unseen values with examples, then the rows."""
        known = {f.name: f.categories or [] for f in schema.features}
        columns = []
        for name in known:
            rows, values = self.unseen.get(name, (np.zeros(0, dtype=np.int64), []))
            if not len(rows) and not self.missing.get(name):
                continue
            lowered = {str(c).strip().lower(): c for c in known[name]}
            examples = [
                {"value": value, "count": count, "suggest": lowered.get(str(value).strip().lower())}
                for value, count in Counter(map(str, values)).most_common(EXAMPLES)
            ]
            columns.append(
                {
                    "name": name,
                    "unseen": len(rows),
                    "missing": self.missing.get(name, 0),
                    "examples": examples,
                    "rows": rows[:EXAMPLES].tolist(),
                    "known": known[name][:SHOWN_CATEGORIES],
                    "more_known": max(0, len(known[name]) - SHOWN_CATEGORIES),
                }
            )
        columns.sort(key=lambda c: (-c["unseen"], -c["missing"]))
        unreliable = np.flatnonzero(self.unreliable)
        return {
            "rows": len(self.unusable),
            "features": self.features,
            "columns": columns,
            "rows_with_unseen": len(self.row_unseen()),
            "unreliable": len(unreliable),
            "unreliable_rows": unreliable[:SHOWN_ROWS].tolist(),
        }
