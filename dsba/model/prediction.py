"""Score records or frames with a stored model: original labels plus per-class probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from dsba.data.input_report import InputReport
from dsba.data.schema import (
    DATETIME,
    DATETIME_PARTS,
    FeatureSchema,
    prepare_features,
)
from dsba.data.target import CLASSIFICATION, REGRESSION
from dsba.errors import InvalidInput, TooLarge
from dsba.model import dense_predict
from dsba.model.calibration import apply_map
from dsba.model.feature_plan import FeaturePlan, feature_plan
from dsba.model.intervals import interval_model
from dsba.model.linear import linear_inputs, linear_sources
from dsba.model.threshold import decide
from dsba.registry.model_registry import LoadedModel

LABEL_COLUMN = "prediction"
LOWER_COLUMN, UPPER_COLUMN = "prediction_lower", "prediction_upper"
# The prediction id of a logged row; a file that has its own "id" column gets "prediction_id".
ID_COLUMN, ID_COLUMN_TAKEN = "id", "prediction_id"
UNSEEN_COLUMN = "unseen_features"
WARNINGS_COLUMN = "warnings"


@dataclass
class Predictions:
    """Labels and probabilities (or values and intervals) for a batch, with input warnings.

    A regression has classes == [], labels holding the predicted values, probabilities of
    shape (n, 0) and intervals of shape (n, 2): [lower, upper] per row.
    """

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
    # One prediction id per row when the rows went to the prediction log, else None.
    ids: list[str] | None = None
    intervals: np.ndarray | None = None

    @property
    def is_regression(self) -> bool:
        """Whether these are predicted values with intervals rather than classes."""
        return self.intervals is not None

    @property
    def task(self) -> str:
        """ "regression" or "classification"."""
        return REGRESSION if self.is_regression else CLASSIFICATION

    def __post_init__(self) -> None:
        if self.report is not None and not self.flags:
            self.flags = self.report.row_flags()

    def _rows(self) -> list[dict[str, Any]]:
        if self.is_regression:
            return [
                {"value": value, "interval": bounds}
                for value, bounds in zip(self.labels, self.intervals.tolist(), strict=True)
            ]
        names = [str(c) for c in self.classes]
        rounded = self.probabilities.astype(np.float64).round(6).tolist()
        return [
            {"label": label, "probabilities": dict(zip(names, p, strict=True))}
            for label, p in zip(self.labels, rounded, strict=True)
        ]

    def records(self) -> list[dict[str, Any]]:
        """One {id?, label, probabilities} (or {id?, value, interval}) dict per row, JSON-ready."""
        rows = self._rows()
        if self.ids is not None:
            rows = [{"id": i, **row} for i, row in zip(self.ids, rows, strict=True)]
        if self.contributions is not None:
            for row, explained in zip(rows, self.contributions, strict=True):
                row["contributions"] = explained
        for i, extra in self.flags.items():
            rows[i].update(extra)
        return rows

    def to_frame(self, frame: pd.DataFrame, *, flags: bool = False) -> pd.DataFrame:
        """Return frame with the label column and one probability column per class added.

        A regression gets the value and its bounds: prediction, prediction_lower/_upper.

        With flags, two more: the count of unseen values per row and a note on the row. Rows
        that went to the prediction log get their id in a first column.
        """
        result = frame.copy()
        if self.ids is not None:
            taken = ID_COLUMN in result.columns
            result.insert(0, ID_COLUMN_TAKEN if taken else ID_COLUMN, self.ids)
        result[LABEL_COLUMN] = self.labels
        if self.is_regression:
            result[LOWER_COLUMN], result[UPPER_COLUMN] = self.intervals.T
        for i, name in enumerate(self.classes):
            result[f"probability_{name}"] = self.probabilities[:, i].round(6)
        if flags and self.report is not None:
            result[UNSEEN_COLUMN], result[WARNINGS_COLUMN] = self.report.row_notes()
        elif flags:
            result[UNSEEN_COLUMN], result[WARNINGS_COLUMN] = self._notes_from_flags(len(frame))
        return result

    def _notes_from_flags(self, rows: int) -> tuple[list[int], list[str]]:
        """The flag columns from a server's per-row flags (a remote answer has no report)."""
        counts, notes = [0] * rows, [""] * rows
        for i, flag in self.flags.items():
            unseen = flag.get("unseen", {})
            counts[i] = len(unseen)
            parts = (
                ["unseen " + ", ".join(f"{k}={v!r}" for k, v in unseen.items())] if unseen else []
            )
            if flag.get("unreliable"):
                parts.append("unreliable: most features unseen or missing")
            notes[i] = "; ".join(parts)
        return counts, notes


def _contributions(
    booster: xgb.Booster, x: pd.DataFrame, schema: FeatureSchema, predicted: np.ndarray
) -> list[dict[str, float]]:
    """Per-row feature contributions (SHAP values from XGBoost) toward the predicted class.

    A regression's contributions explain its value (predicted is then all zeros, unused).
    """
    if schema.linear is not None:
        # A linear booster's columns: standardised inputs and one-hot categories.
        matrix = xgb.DMatrix(linear_inputs(schema.linear, x))
        sources = linear_sources(schema.linear)
    else:
        matrix = xgb.DMatrix(x, enable_categorical=True)
        # The feature behind each matrix column: a datetime feature spans one column per
        # part. Splitting names on "__" instead would merge features named like "bill__length".
        sources = [
            feature.name
            for feature in schema.features
            for _ in range(len(DATETIME_PARTS) if feature.kind == DATETIME else 1)
        ]
    contribs = booster.predict(matrix, pred_contribs=True)
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


def _score(
    model: LoadedModel, plan: FeaturePlan, x: Any, threads: int
) -> tuple[list[Any], np.ndarray, np.ndarray | None]:
    """Labels and probabilities, or values, empty probabilities and intervals."""
    if plan.threads != threads:
        # Each set_param call reconfigures the booster; once per model and worker is enough.
        model.booster.set_param({"nthread": threads})
        plan.threads = threads
    raw = dense_predict.predict(model.booster, x, plan.schema.linear, threads)
    if plan.schema.is_regression:
        values = np.asarray(raw, dtype=np.float64)
        bounds = interval_model(model).bounds(x, values, threads)
        return _significant(values).tolist(), np.zeros((len(values), 0)), _significant(bounds)
    if len(plan.schema.classes) == 2:
        # The version's calibration map and threshold (absent on older versions: the most
        # probable class, as before). Every prediction path comes through here.
        raw = apply_map(model.metadata.get("calibration"), raw)
        proba = np.column_stack([1.0 - raw, raw])
    else:
        proba = raw
    classes = plan.schema.classes
    labels = [classes[i] for i in decide(proba, model.metadata.get("threshold")).tolist()]
    return labels, proba, None


def _significant(values: np.ndarray, digits: int = 7) -> np.ndarray:
    """Values rounded to float32's precision, so JSON shows 151.2, not 151.19999694824219."""
    finite = np.isfinite(values) & (values != 0)
    scale = np.ones_like(values)
    scale[finite] = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(values[finite]))))
    return np.where(finite, np.round(values * scale) / scale, values)


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
        empty = np.zeros((0, 2)) if schema.is_regression else None
        return Predictions(
            model.ref,
            schema.classes,
            [],
            np.zeros((0, len(schema.classes))),
            warnings,
            intervals=empty,
        )
    report = InputReport.from_frame(schema, frame, x)
    warnings.extend(report.warnings())
    labels, proba, bounds = _score(model, plan, x, threads)
    explained = None
    if contributions:
        if bounds is not None:
            winners = np.zeros(len(x), dtype=int)
        else:
            winners = decide(proba, model.metadata.get("threshold"))
        explained = _contributions(model.booster, x, schema, winners)
    return Predictions(
        model.ref, schema.classes, labels, proba, warnings, explained, report, intervals=bounds
    )


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
    labels, proba, bounds = _score(model, plan, x, threads)
    return Predictions(
        model.ref, plan.schema.classes, labels, proba, warnings, report=report, intervals=bounds
    )
