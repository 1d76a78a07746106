"""Score records or frames with a stored model: original labels plus per-class probabilities."""

from __future__ import annotations

import itertools
import math
import operator
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from dsba import dense_predict
from dsba.errors import InvalidInput, TooLarge
from dsba.input_report import InputReport
from dsba.registry import LoadedModel
from dsba.schema import (
    BOOLEAN,
    CATEGORICAL,
    DATETIME,
    DATETIME_PARTS,
    NUMERIC,
    FeatureSchema,
    prepare_features,
)

LABEL_COLUMN = "prediction"
UNSEEN_COLUMN = "unseen_features"
WARNINGS_COLUMN = "warnings"
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Predictions:
    """Labels and probabilities for a batch, with warnings about the input."""

    model: str
    classes: list[Any]
    labels: list[Any]
    probabilities: np.ndarray
    warnings: list[str] = field(default_factory=list)
    contributions: list[dict[str, float]] | None = None
    report: InputReport | None = None
    # Extra keys of flagged rows in records(); only they get any, so clean answers keep
    # their shape. Filled from the report here, from the server's answer by the client.
    flags: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.report is not None and not self.flags:
            self.flags = self.report.row_flags()

    def records(self) -> list[dict[str, Any]]:
        """One {label, probabilities: {class: p}} dict per row, JSON-ready."""
        names = [str(c) for c in self.classes]
        rounded = np.round(self.probabilities.astype(np.float64), 6).tolist()
        rows = [
            {"label": label, "probabilities": dict(zip(names, p, strict=True))}
            for label, p in zip(self.labels, rounded, strict=True)
        ]
        if self.contributions is not None:
            for row, explained in zip(rows, self.contributions, strict=True):
                row["contributions"] = explained
        for i, extra in self.flags.items():
            rows[i].update(extra)
        return rows

    def to_frame(self, frame: pd.DataFrame, *, flags: bool = False) -> pd.DataFrame:
        """Return frame with the label column and one probability column per class added.

        With flags, two more: the count of unseen values per row and a note on the row.
        """
        result = frame.copy()
        result[LABEL_COLUMN] = self.labels
        for i, name in enumerate(self.classes):
            result[f"probability_{name}"] = self.probabilities[:, i].round(6)
        if flags and self.report is not None:
            result[UNSEEN_COLUMN], result[WARNINGS_COLUMN] = self.report.row_notes()
        return result


def _contributions(
    booster: xgb.Booster, x: pd.DataFrame, schema: FeatureSchema, predicted: np.ndarray
) -> list[dict[str, float]]:
    """Per-row feature contributions (SHAP values from XGBoost) toward the predicted class."""
    matrix = xgb.DMatrix(x, enable_categorical=True)
    contribs = booster.predict(matrix, pred_contribs=True)
    # The feature behind each matrix column: a datetime feature spans one column per part.
    # Splitting column names on "__" instead would merge features named like "bill__length".
    sources = [
        feature.name
        for feature in schema.features
        for _ in range(len(DATETIME_PARTS) if feature.kind == DATETIME else 1)
    ]
    result = []
    for i in range(len(x)):
        row = contribs[i] if contribs.ndim == 2 else contribs[i, predicted[i]]
        # Binary models explain the positive class: flip the sign when the negative one won.
        sign = -1.0 if contribs.ndim == 2 and len(schema.classes) == 2 and predicted[i] == 0 else 1
        per_feature: dict[str, float] = {}
        for source, value in zip(sources, row[:-1], strict=True):
            per_feature[source] = per_feature.get(source, 0.0) + sign * float(value)
        ordered = sorted(per_feature.items(), key=lambda item: abs(item[1]), reverse=True)
        result.append({name: round(value, 6) for name, value in ordered})
    return result


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


def _score(
    model: LoadedModel, plan: FeaturePlan, x: Any, warnings: list[str], threads: int
) -> tuple[list[Any], np.ndarray]:
    if plan.threads != threads:
        # Each set_param call reconfigures the booster; once per model and worker is enough.
        model.booster.set_param({"nthread": threads})
        plan.threads = threads
    raw = dense_predict.predict(model.booster, x)
    proba = np.column_stack([1.0 - raw, raw]) if len(plan.schema.classes) == 2 else raw
    classes = plan.schema.classes
    labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
    return labels, proba


def predict_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    *,
    threads: int = 1,
    contributions: bool = False,
) -> Predictions:
    """Score every row of frame; columns are matched to the model's schema by name."""
    plan = feature_plan(model)
    schema = plan.schema
    try:
        x, warnings = prepare_features(schema, frame)
    except OverflowError as exc:
        raise InvalidInput("a numeric value is beyond the model's number range") from exc
    if len(x) == 0:
        return Predictions(
            model.ref, schema.classes, [], np.zeros((0, len(schema.classes))), warnings
        )
    report = InputReport.from_frame(schema, frame, x)
    warnings.extend(report.warnings())
    labels, proba = _score(model, plan, x, warnings, threads)
    explained = None
    if contributions:
        explained = _contributions(model.booster, x, schema, proba.argmax(axis=1))
    return Predictions(model.ref, schema.classes, labels, proba, warnings, explained, report)


def _check_batch(records: Any, max_rows: int) -> None:
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty list of objects", {"records": "invalid"})
    if len(records) > max_rows:
        raise TooLarge(f"{len(records):,} records exceed the batch limit of {max_rows:,}")


def check_records(records: Any, max_rows: int) -> None:
    """Check that records is a non-empty list of flat JSON objects within the batch limit."""
    _check_batch(records, max_rows)
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {index} is not an object", {"row": index})
        for key, value in record.items():
            if isinstance(value, dict | list):
                raise InvalidInput(
                    f"record {index}, field {key!r}: nested values are not allowed",
                    {"row": index, "column": key},
                )


def records_to_frame(records: Any, max_rows: int) -> pd.DataFrame:
    """Check a JSON list of row objects and build a frame from it."""
    check_records(records, max_rows)
    return pd.DataFrame.from_records(records)


def predict_records(
    model: LoadedModel,
    records: Any,
    *,
    max_rows: int = 10_000,
    threads: int = 1,
    contributions: bool = False,
) -> Predictions:
    """Score a list of {column: value} records (no DataFrame on the common path)."""
    _check_batch(records, max_rows)
    plan = feature_plan(model)
    simple = all(type(record) is dict for record in records) and not contributions
    fast = plan.matrix(records) if simple else None
    # The fast path has checked the type of every feature value; other values get the full
    # check (objects only, nothing nested) only when there are other columns.
    if fast is None or fast[2]:
        check_records(records, max_rows)
    if fast is None:
        return predict_frame(
            model, pd.DataFrame.from_records(records), threads=threads, contributions=contributions
        )
    x, warnings, _, report = fast
    warnings.extend(report.warnings())
    labels, proba = _score(model, plan, x, warnings, threads)
    return Predictions(model.ref, plan.schema.classes, labels, proba, warnings, report=report)
