"""The linear candidate: XGBoost's gblinear booster on standardised numbers and one-hot categories.

A linear model needs its inputs on one scale and its categories as indicator columns, where
trees take raw numbers and native categories. The encoding that does this is fitted on the
training rows and stored as plain JSON numbers in the schema (FeatureSchema.linear), so every
prediction path rebuilds the same inputs. gblinear has no inplace_predict (XGBoost raises
"Inplace predict is not supported by the current booster"): it predicts through a DMatrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import sparse

from dsba.data.schema import CATEGORICAL, DATETIME, DATETIME_PARTS, FeatureSchema

LINEAR = "gblinear"
# Importance reads contributions of at most this many test rows: they are dense, one value
# per one-hot column, and a seeded sample ranks features as well as every row does.
IMPORTANCE_ROWS = 2_000
_FLOAT32 = float(np.finfo(np.float32).max)
# Tree-only native parameters a linear booster does not take (XGBoost warns of unused ones).
_TREE_ONLY = (
    "tree_method",
    "max_depth",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "gamma",
    "max_bin",
    "max_cat_to_onehot",
)


def fit_linear_encoding(schema: FeatureSchema, x: pd.DataFrame) -> dict[str, Any]:
    """Standardisation of each numeric input and one-hot width of each categorical, from x.

    x is what prepare_features returned for the training rows. Missing numbers become the
    mean (0 once standardised); a missing or unseen category is all zeros.
    """
    inputs: list[dict[str, Any]] = []
    for feature in schema.features:
        if feature.kind == CATEGORICAL:
            inputs.append(
                {
                    "feature": feature.name,
                    "column": feature.name,
                    "categories": len(feature.categories or []),
                }
            )
            continue
        columns = (
            [f"{feature.name}__{part}" for part in DATETIME_PARTS]
            if feature.kind == DATETIME
            else [feature.name]
        )
        for column in columns:
            values = x[column].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            mean = float(values.mean()) if len(values) else 0.0
            scale = float(values.std()) if len(values) else 0.0
            # A constant input stays at 0 after centring; dividing by 1 keeps it finite.
            inputs.append(
                {
                    "feature": feature.name,
                    "column": column,
                    "mean": mean,
                    "scale": scale if scale > 0 else 1.0,
                }
            )
    return {"booster": LINEAR, "inputs": inputs}


def linear_width(encoding: dict[str, Any]) -> int:
    """How many columns linear_inputs makes."""
    return sum(item.get("categories", 1) for item in encoding["inputs"])


def linear_sources(encoding: dict[str, Any]) -> list[str]:
    """The source feature of each column linear_inputs makes, in order."""
    return [
        item["feature"] for item in encoding["inputs"] for _ in range(item.get("categories", 1))
    ]


def _codes(column: Any) -> np.ndarray:
    """Category codes as floats, NaN for missing: pandas categories or the plan's float codes."""
    if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(dtype=np.float64)
        codes[codes < 0] = np.nan
        return codes
    return np.asarray(column, dtype=np.float64)


def linear_inputs(encoding: dict[str, Any], x: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
    """The linear booster's float32 input matrix for prepared rows x, sparse by rows (CSR).

    x is prepare_features' frame (categoricals as pandas categories) or the FeaturePlan's
    float32 matrix (categoricals as float codes, NaN where missing), columns in the order of
    the schema's model columns.
    """
    # Sparse, because one-hot columns are: a dense matrix of 200,000 rows and a column of
    # 1,000 categories is 800 MB, its CSR form 2 values a row. gblinear skips an absent
    # entry exactly as it adds nothing for a 0, so both give the same model and predictions.
    frame = isinstance(x, pd.DataFrame)
    n = len(x)
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    values: list[np.ndarray] = []
    at = 0
    for j, item in enumerate(encoding["inputs"]):
        column = x[item["column"]] if frame else x[:, j]
        if "categories" in item:
            width = item["categories"]
            codes = _codes(column)
            known = np.isfinite(codes) & (codes >= 0) & (codes < width)
            present = np.flatnonzero(known)
            rows.append(present)
            columns.append(at + codes[known].astype(np.int64))
            values.append(np.ones(len(present), dtype=np.float32))
            at += width
            continue
        scaled = (np.asarray(column, dtype=np.float64) - item["mean"]) / item["scale"]
        # Clipped to float32, the booster's type: a far-out value stays large, not infinite.
        scaled = np.clip(np.where(np.isfinite(scaled), scaled, 0.0), -_FLOAT32, _FLOAT32)
        rows.append(np.arange(n))
        columns.append(np.full(n, at))
        values.append(scaled.astype(np.float32))
        at += 1
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(n, at),
        dtype=np.float32,
    )


def linear_params(native: dict[str, Any]) -> dict[str, Any]:
    """A tree booster's native parameters turned into a linear booster's."""
    params = {k: v for k, v in native.items() if k not in _TREE_ONLY}
    # Coordinate descent is exact and deterministic; the default "shotgun" updater is a
    # parallel, lock-free one whose result depends on thread timing.
    params.update(booster=LINEAR, updater="coord_descent")
    return params


def is_linear(native: dict[str, Any]) -> bool:
    """Whether native parameters train a linear booster."""
    return native.get("booster") == LINEAR


def model_inputs(schema: FeatureSchema, x: pd.DataFrame | np.ndarray) -> Any:
    """What the schema's booster takes for prepared rows x: x itself, or the linear inputs."""
    return x if schema.linear is None else linear_inputs(schema.linear, x)


def take_rows(x: pd.DataFrame | np.ndarray | sparse.csr_matrix, rows: np.ndarray) -> Any:
    """The given positional rows of a model input (a prepared frame or a linear matrix)."""
    return x.iloc[rows] if isinstance(x, pd.DataFrame) else x[rows]


def predict_inputs(booster: xgb.Booster, native: dict[str, Any], x: Any) -> np.ndarray:
    """Predictions of a booster trained with native, for its own kind of input x."""
    if is_linear(native):
        return booster.predict(xgb.DMatrix(x))
    return booster.inplace_predict(x)


def predict_linear(
    booster: xgb.Booster, encoding: dict[str, Any], x: Any, threads: int = 0, **kwargs
) -> np.ndarray:
    """The linear booster's predictions (kwargs as for Booster.predict) for prepared rows x."""
    matrix = xgb.DMatrix(linear_inputs(encoding, x), nthread=threads or -1)
    return booster.predict(matrix, **kwargs)


def fold_contributions(contribs: np.ndarray, sources: list[str]) -> tuple[np.ndarray, list[str]]:
    """Sum pred_contribs columns (bias last, dropped) per source feature, in first-seen order."""
    names = list(dict.fromkeys(sources))
    index = np.array([names.index(source) for source in sources])
    folded = np.zeros((*contribs.shape[:-1], len(names)), dtype=np.float64)
    for j, target in enumerate(index):
        folded[..., target] += contribs[..., j]
    return folded, names


def linear_importance(
    booster: xgb.Booster, schema: FeatureSchema, x: pd.DataFrame
) -> list[dict[str, Any]] | None:
    """Mean |contribution| per source feature on rows x, as shares; None for a tree model.

    Gain does not exist without splits. A linear model's exact SHAP value of a feature is its
    contribution minus that contribution's mean, so each feature's importance is the mean
    absolute deviation of its summed contributions (one-hot columns and datetime parts folded
    into their feature), over the rows and, for several classes, over the classes.
    """
    if schema.linear is None:
        return None
    if len(x) > IMPORTANCE_ROWS:
        x = x.sample(IMPORTANCE_ROWS, random_state=0)
    contribs = predict_linear(booster, schema.linear, x, pred_contribs=True)[..., :-1]
    folded, names = fold_contributions(contribs, linear_sources(schema.linear))
    spread = np.abs(folded - folded.mean(axis=0)).reshape(-1, len(names)).mean(axis=0)
    total = float(spread.sum()) or 1.0
    ranked = sorted(zip(names, spread, strict=True), key=lambda item: item[1], reverse=True)
    return [{"feature": name, "gain": round(float(v) / total, 6)} for name, v in ranked]
