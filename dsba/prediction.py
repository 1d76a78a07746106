"""Score records or frames with a stored model: original labels plus per-class probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from dsba.errors import InvalidInput, TooLarge
from dsba.registry import LoadedModel
from dsba.schema import FeatureSchema, prepare_features

LABEL_COLUMN = "prediction"


@dataclass
class Predictions:
    """Labels and probabilities for a batch, with warnings about the input."""

    model: str
    classes: list[Any]
    labels: list[Any]
    probabilities: np.ndarray
    warnings: list[str] = field(default_factory=list)
    contributions: list[dict[str, float]] | None = None

    def records(self) -> list[dict[str, Any]]:
        """One {label, probabilities: {class: p}} dict per row, JSON-ready."""
        names = [str(c) for c in self.classes]
        rows = []
        for i, label in enumerate(self.labels):
            row: dict[str, Any] = {
                "label": label,
                "probabilities": {
                    n: round(float(p), 6) for n, p in zip(names, self.probabilities[i], strict=True)
                },
            }
            if self.contributions is not None:
                row["contributions"] = self.contributions[i]
            rows.append(row)
        return rows

    def to_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return frame with the label column and one probability column per class added."""
        result = frame.copy()
        result[LABEL_COLUMN] = self.labels
        for i, name in enumerate(self.classes):
            result[f"probability_{name}"] = self.probabilities[:, i].round(6)
        return result


def _contributions(
    booster: xgb.Booster, x: pd.DataFrame, schema: FeatureSchema, predicted: np.ndarray
) -> list[dict[str, float]]:
    """Per-row feature contributions (SHAP values from XGBoost) toward the predicted class."""
    matrix = xgb.DMatrix(x, enable_categorical=True)
    contribs = booster.predict(matrix, pred_contribs=True)
    columns = list(x.columns)
    result = []
    for i in range(len(x)):
        row = contribs[i] if contribs.ndim == 2 else contribs[i, predicted[i]]
        # Binary models explain the positive class: flip the sign when the negative one won.
        sign = -1.0 if contribs.ndim == 2 and len(schema.classes) == 2 and predicted[i] == 0 else 1
        per_feature: dict[str, float] = {}
        for column, value in zip(columns, row[:-1], strict=True):
            source = column.split("__")[0]
            per_feature[source] = per_feature.get(source, 0.0) + sign * float(value)
        ordered = sorted(per_feature.items(), key=lambda item: abs(item[1]), reverse=True)
        result.append({name: round(value, 6) for name, value in ordered})
    return result


def predict_frame(
    model: LoadedModel,
    frame: pd.DataFrame,
    *,
    threads: int = 1,
    contributions: bool = False,
) -> Predictions:
    """Score every row of frame; columns are matched to the model's schema by name."""
    schema = FeatureSchema.from_dict(model.schema)
    x, warnings = prepare_features(schema, frame)
    if len(x) == 0:
        return Predictions(
            model.ref, schema.classes, [], np.zeros((0, len(schema.classes))), warnings
        )
    model.booster.set_param({"nthread": threads})
    raw = model.booster.inplace_predict(x)
    proba = np.column_stack([1.0 - raw, raw]) if len(schema.classes) == 2 else raw
    predicted = proba.argmax(axis=1)
    labels = [schema.classes[i] for i in predicted]
    explained = _contributions(model.booster, x, schema, predicted) if contributions else None
    return Predictions(model.ref, schema.classes, labels, proba, warnings, explained)


def records_to_frame(records: Any, max_rows: int) -> pd.DataFrame:
    """Check a JSON list of row objects and build a frame from it."""
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty list of objects", {"records": "invalid"})
    if len(records) > max_rows:
        raise TooLarge(f"{len(records):,} records exceed the batch limit of {max_rows:,}")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {index} is not an object", {"row": index})
        for key, value in record.items():
            if isinstance(value, dict | list):
                raise InvalidInput(
                    f"record {index}, field {key!r}: nested values are not allowed",
                    {"row": index, "column": key},
                )
    return pd.DataFrame.from_records(records)


def predict_records(
    model: LoadedModel,
    records: Any,
    *,
    max_rows: int = 10_000,
    threads: int = 1,
    contributions: bool = False,
) -> Predictions:
    """Score a list of {column: value} records."""
    return predict_frame(
        model, records_to_frame(records, max_rows), threads=threads, contributions=contributions
    )
