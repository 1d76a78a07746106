"""A model's schema compiled once, so JSON records go straight into XGBoost's matrix."""

from __future__ import annotations

import itertools
import math
import operator
import weakref
from typing import Any

import numpy as np

from dsba.data.input_report import InputReport
from dsba.data.schema import BOOLEAN, CATEGORICAL, NUMERIC, FeatureSchema
from dsba.errors import InvalidInput
from dsba.registry.model_registry import LoadedModel

FLOAT32_MAX = float(np.finfo(np.float32).max)


class FeaturePlan:
    """A model's schema compiled once: records go straight into XGBoost's float32 matrix.

    Covers the common case (numbers for numeric features, strings for categorical ones,
    true/false for boolean ones, null anywhere); matrix() returns None for anything else
    (datetime features, numeric strings, ...), and the caller takes the pandas path, which
    accepts more and words every error. Both paths give the same matrix where both apply.
    """

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.names = [f.name for f in schema.features]
        self.kinds = [f.kind for f in schema.features]
        self.codes = [
            {c: float(i) for i, c in enumerate(f.categories or [])}
            if f.kind == CATEGORICAL
            else None
            for f in schema.features
        ]
        self.simple = all(kind in (NUMERIC, CATEGORICAL, BOOLEAN) for kind in self.kinds)
        self.known = set(self.names) | {schema.target} | {d["column"] for d in schema.dropped}
        self.threads: int | None = None

    def matrix(
        self, records: list[dict[str, Any]]
    ) -> tuple[np.ndarray, list[str], list[str], InputReport] | None:
        """The model matrix, warnings, ignored columns and report, or None for the pandas path."""
        if not self.simple:
            return None
        present: dict[str, None] = {}
        for record in records:
            present.update(dict.fromkeys(record))
        if any(name not in present for name in self.names):
            return None  # the pandas path words the missing-columns error
        # float64 first: values beyond float32 are refused below, not turned into infinity.
        x = np.empty((len(records), len(self.names)), dtype=np.float64)
        warnings: list[str] = []
        unseen: dict[str, tuple[list[int], list[Any]]] = {}
        for j, column in enumerate(_columns(records, self.names)):
            kind = self.kinds[j]
            if kind == NUMERIC:
                values = _numeric(column)
            elif kind == BOOLEAN:
                values = _boolean(column)
            else:
                values = _categorical(self.names[j], column, self.codes[j], warnings, unseen)
            if values is None:
                return None
            try:
                x[:, j] = values
            except OverflowError:  # an integer beyond even float64
                rows = [i for i, v in enumerate(column) if type(v) is int and abs(v) > FLOAT32_MAX]
                raise _beyond(self.names[j], rows) from None
        self._check_range(x)
        extra = [str(c) for c in present if c not in self.known]
        if extra:
            warnings.insert(0, f"ignored columns not used by the model: {', '.join(extra)}")
        report = InputReport.from_matrix(self.names, x, unseen)
        return x.astype(np.float32), warnings, extra, report

    def _check_range(self, x: np.ndarray) -> None:
        """Refuse finite numbers that float32, XGBoost's type, cannot hold (one numpy pass)."""
        # Category codes and booleans are small, so the whole matrix can be tested at once.
        beyond = np.abs(x) > FLOAT32_MAX
        if not beyond.any():
            return
        beyond &= np.isfinite(x)
        if beyond.any():
            j = int(beyond.any(axis=0).argmax())
            raise _beyond(self.names[j], np.flatnonzero(beyond[:, j]).tolist())


_NONE = type(None)


def _beyond(name: str, rows: list[int]) -> InvalidInput:
    return InvalidInput(
        f"column {name!r}: row {rows[0]} has a number beyond the model's range (3.4e38)",
        {"column": name, "rows": rows[:5]},
    )


def _columns(records: list[dict[str, Any]], names: list[str]) -> list[tuple[Any, ...]]:
    """The values of each named column, in row order (None where a record lacks the key)."""
    if len(names) == 1:
        return [tuple(record.get(names[0]) for record in records)]
    getter = operator.itemgetter(*names)
    try:
        rows = [getter(record) for record in records]
    except KeyError:
        rows = [tuple(record.get(name) for name in names) for record in records]
    return list(zip(*rows, strict=True))


def _numeric(column: tuple[Any, ...]) -> tuple[Any, ...] | None:
    types = set(map(type, column))
    if not types <= {float, int, _NONE}:
        return None
    if _NONE in types:
        return tuple(math.nan if v is None else v for v in column)
    return column


def _boolean(column: tuple[Any, ...]) -> list[float] | None:
    if not set(map(type, column)) <= {bool, _NONE}:
        return None
    return [math.nan if v is None else float(v) for v in column]


def _categorical(
    name: str,
    column: tuple[Any, ...],
    codes: dict[str, float],
    warnings: list[str],
    unseen_out: dict[str, tuple[list[int], list[Any]]],
) -> list[float] | None:
    if not set(map(type, column)) <= {str, _NONE}:
        return None
    # None is never a category: it maps to NaN (missing) like an unseen one.
    values = list(map(codes.get, column, itertools.repeat(math.nan)))
    if set(column) - codes.keys() - {None}:
        unseen = [i for i, v in enumerate(column) if v is not None and v not in codes]
        unseen_out[name] = (unseen, [column[i] for i in unseen])
        shown = sorted({column[i] for i in unseen[:1000]})[:5]
        warnings.append(
            f"column {name!r}: unseen categories {shown!r} treated as missing (rows {unseen[:5]})"
        )
    return values


_PLANS: weakref.WeakKeyDictionary[LoadedModel, FeaturePlan] = weakref.WeakKeyDictionary()


def feature_plan(model: LoadedModel) -> FeaturePlan:
    """The compiled plan of a loaded model, built on first use (models are immutable)."""
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS.setdefault(model, FeaturePlan(FeatureSchema.from_dict(model.schema)))
    return plan
