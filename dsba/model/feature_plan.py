"""A model's schema compiled once, so JSON records go straight into XGBoost's matrix."""

from __future__ import annotations

import itertools
import math
import operator
import weakref
from typing import Any

import numpy as np

from dsba.data.input_report import InputReport
from dsba.data.schema import (
    BOOLEAN,
    CATEGORICAL,
    FLOAT32_MAX,
    NUMERIC,
    TRUTH_WORDS,
    FeatureSchema,
    beyond_float32,
)
from dsba.registry.model_registry import LoadedModel

# The float32 matrix, the warnings, the ignored columns and the input report.
Matrix = tuple[np.ndarray, list[str], list[str], InputReport]


class FeaturePlan:
    """A model's schema compiled once: records go straight into XGBoost's float32 matrix.

    Covers the common case (numbers for numeric features, strings for categorical ones,
    true/false or yes/no words for boolean ones, null anywhere); matrix() returns None for
    anything else (datetime features, numeric strings, ...), and the caller takes the pandas
    path, which accepts more and words every error. Both paths give the same matrix where both
    apply.
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
        self.columns = list(zip(self.names, self.kinds, self.codes, strict=True))
        self.threads: int | None = None

    def matrix(self, records: list[dict[str, Any]]) -> Matrix | None:
        """The model matrix, warnings, ignored columns and report, or None for the pandas path."""
        if not self.simple:
            return None
        if len(records) == 1:
            return self._one(records[0])
        return self._many(records)

    def _many(self, records: list[dict[str, Any]]) -> Matrix | None:
        """matrix() column by column, each column one numpy assignment."""
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
                raise beyond_float32(self.names[j], rows) from None
        self._check_range(x)
        extra = self._ignored(present, warnings)
        report = InputReport.from_matrix(self.names, x, unseen)
        return x.astype(np.float32), warnings, extra, report

    def _one(self, record: dict[str, Any]) -> Matrix | None:
        """matrix() of a single record, value by value: what the columns path gives, in the
        same order of checks, without its numpy calls per column (a row of 7 features: about
        55,000 instructions here against 146,000)."""
        if any(name not in record for name in self.names):
            return None
        row: list[float] = []
        warnings: list[str] = []
        unseen: dict[str, tuple[list[int], list[Any]]] = {}
        beyond = None
        for name, kind, codes in self.columns:
            value = record[name]
            given = type(value)
            if value is None:
                row.append(math.nan)
            elif kind == NUMERIC:
                if given is not float and given is not int:
                    return None
                try:
                    number = float(value)
                except OverflowError:  # an integer beyond even float64
                    raise beyond_float32(name, [0]) from None
                if beyond is None and abs(number) > FLOAT32_MAX and math.isfinite(number):
                    beyond = name  # refused once every value has its type checked, as above
                row.append(number)
            elif kind == BOOLEAN:
                truth = _truth(value, given)
                if truth is None:
                    return None
                row.append(truth)
            else:
                if given is not str:
                    return None
                code = codes.get(value)
                if code is None:
                    code = math.nan
                    unseen[name] = ([0], [value])
                    warnings.append(_unseen_warning(name, [value], [0]))
                row.append(code)
        if beyond is not None:
            raise beyond_float32(beyond, [0])
        extra = self._ignored(record, warnings)
        # Python floats are doubles: float32 rounds them as it rounds the float64 matrix.
        x = np.array([row], dtype=np.float32)
        if unseen or any(value != value for value in row):  # NaN is the one value != itself
            report = InputReport.from_matrix(self.names, x, unseen)
        else:
            report = InputReport.clean(self.names, 1)
        return x, warnings, extra, report

    def _ignored(self, present: dict[str, Any], warnings: list[str]) -> list[str]:
        """The given columns the model does not know, with a warning naming them first."""
        extra = [str(c) for c in present if c not in self.known]
        if extra:
            warnings.insert(0, f"ignored columns not used by the model: {', '.join(extra)}")
        return extra

    def _check_range(self, x: np.ndarray) -> None:
        """Refuse finite numbers that float32, XGBoost's type, cannot hold (one numpy pass)."""
        # Category codes and booleans are small, so the whole matrix can be tested at once.
        beyond = np.abs(x) > FLOAT32_MAX
        if not beyond.any():
            return
        beyond &= np.isfinite(x)
        if beyond.any():
            j = int(beyond.any(axis=0).argmax())
            raise beyond_float32(self.names[j], np.flatnonzero(beyond[:, j]).tolist())


_NONE = type(None)


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


def _truth(value: Any, given: type) -> float | None:
    """1.0 or 0.0 for a bool or a true/false word, else None (the pandas path words why).

    A CSV's "Yes"/"No" column trains a boolean feature, and its rows send those words back.
    """
    if given is bool:
        return 1.0 if value else 0.0
    return TRUTH_WORDS.get(value.strip().lower()) if given is str else None


def _boolean(column: tuple[Any, ...]) -> list[float] | None:
    values = []
    for value in column:
        truth = math.nan if value is None else _truth(value, type(value))
        if truth is None:
            return None
        values.append(truth)
    return values


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
        warnings.append(_unseen_warning(name, shown, unseen[:5]))
    return values


def _unseen_warning(name: str, shown: list[Any], rows: list[int]) -> str:
    return f"column {name!r}: unseen categories {shown!r} treated as missing (rows {rows})"


_PLANS: weakref.WeakKeyDictionary[LoadedModel, FeaturePlan] = weakref.WeakKeyDictionary()


def feature_plan(model: LoadedModel) -> FeaturePlan:
    """The compiled plan of a loaded model, built on first use (models are immutable)."""
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS.setdefault(model, FeaturePlan(FeatureSchema.from_dict(model.schema)))
    return plan
