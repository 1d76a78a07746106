"""The feature schema: inferred when training, stored with the model, applied when predicting."""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dsba.data.target import CLASSIFICATION, REGRESSION, check_regression_target, resolve_task
from dsba.errors import InvalidInput, TooLarge

FLOAT32_MAX = float(np.finfo(np.float32).max)

NUMERIC, BOOLEAN, CATEGORICAL, DATETIME = "numeric", "boolean", "categorical", "datetime"
# A kind a user may give a column instead of the inferred one; IGNORE leaves it out.
IGNORE = "ignore"
# Datetime columns become these numeric parts (named "<column>__<part>"); the raw value is dropped.
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour")
# pandas 3.1 deprecated .dt.dayofweek; stored models keep the part's name, only the accessor moves.
_PART_ACCESSORS = {"dayofweek": "day_of_week"}
TRUE_TEXT = {"true", "t", "yes", "y", "1"}
FALSE_TEXT = {"false", "f", "no", "n", "0"}
# What each true/false word reads as (the words stripped and lowercased first).
TRUTH_WORDS = {**dict.fromkeys(TRUE_TEXT, 1.0), **dict.fromkeys(FALSE_TEXT, 0.0)}
ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key)$|^id[_\s-]", re.IGNORECASE)
# A target with more distinct values than this is treated as continuous, not classes.
MAX_CLASSES = 50
MIN_ROWS_FOR_ID_CHECK = 20


@dataclass(frozen=True)
class Feature:
    """One input column as the model sees it."""

    name: str
    kind: str
    categories: list[Any] | None = None


@dataclass(frozen=True)
class FeatureSchema:
    """Features, dropped columns with reasons, the target's classes and the task."""

    target: str
    classes: list[Any]
    features: list[Feature]
    dropped: list[dict[str, str]] = field(default_factory=list)
    # What the user chose: {"exclude": [columns], "kinds": {column: kind}} (empty: nothing).
    choices: dict[str, Any] = field(default_factory=dict)
    # "classification" or "regression" (whose classes are []); absent in older schema.json.
    task: str = CLASSIFICATION
    # The linear booster's input encoding (dsba.model.linear); None for a tree model and in
    # older schema.json, which all hold tree models.
    linear: dict[str, Any] | None = None

    @property
    def is_regression(self) -> bool:
        """Whether the target is a number to predict rather than a class."""
        return self.task == REGRESSION

    @property
    def model_columns(self) -> list[str]:
        """Column names of the matrix fed to XGBoost, in order."""
        columns: list[str] = []
        for feature in self.features:
            if feature.kind == DATETIME:
                columns.extend(f"{feature.name}__{part}" for part in DATETIME_PARTS)
            else:
                columns.append(feature.name)
        return columns

    @property
    def model_types(self) -> list[str]:
        """XGBoost feature types ("q" quantitative, "c" categorical) for model_columns."""
        types: list[str] = []
        for feature in self.features:
            width = len(DATETIME_PARTS) if feature.kind == DATETIME else 1
            types.extend(["c" if feature.kind == CATEGORICAL else "q"] * width)
        return types

    def to_dict(self) -> dict[str, Any]:
        """Return the schema as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        """Rebuild a schema stored by to_dict."""
        return cls(
            target=data["target"],
            classes=list(data["classes"]),
            features=[Feature(**item) for item in data["features"]],
            dropped=list(data.get("dropped", [])),
            choices=dict(data.get("choices") or {}),
            task=data.get("task", CLASSIFICATION),
            linear=data.get("linear"),
        )


def categorical_features(schema: dict[str, Any]) -> frozenset[str]:
    """Names of the categorical features of a stored schema."""
    return frozenset(f["name"] for f in schema["features"] if f["kind"] == CATEGORICAL)


def to_python(value: Any) -> Any:
    """Turn numpy/pandas scalars into plain JSON-ready Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _looks_boolean(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return False
    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values):
        lowered = set(values.astype(str).str.strip().str.lower().unique())
        return (
            lowered <= (TRUE_TEXT | FALSE_TEXT) and len(lowered) == 2 and not lowered <= {"0", "1"}
        )
    return False


def _looks_datetime(series: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if not (pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)):
        return False
    sample = series.dropna().astype(str).head(200)
    # Only ISO-like strings count: "3" or "May" alone are categories, not dates.
    if sample.empty or not sample.str.match(r"^\d{4}-\d{1,2}-\d{1,2}").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601")
    return bool(parsed.notna().mean() >= 0.95)


def column_kind(series: pd.Series) -> str:
    """Infer how a column is used: numeric, boolean, categorical or datetime."""
    if _looks_boolean(series):
        return BOOLEAN
    if pd.api.types.is_numeric_dtype(series):
        return NUMERIC
    if _looks_datetime(series):
        return DATETIME
    if pd.api.types.is_object_dtype(series) and series.dropna().map(type).isin([dict, list]).any():
        raise InvalidInput(
            f"column {series.name!r} holds nested values (objects or lists); "
            "flatten it into plain columns",
            {"column": str(series.name)},
        )
    return CATEGORICAL


def _drop_reason(series: pd.Series, kind: str, n_rows: int, max_categories: int) -> str | None:
    values = series.dropna()
    if values.empty:
        return "empty: every value is missing"
    if kind == NUMERIC and not pd.api.types.is_integer_dtype(values):
        # Fractional numbers are never ID-like, so only constancy matters; counting distinct
        # values (a hash table per column) was the costliest step of inferring a wide schema.
        return "constant: a single value" if values.min() == values.max() else None
    distinct = values.nunique()
    if distinct == 1:
        return "constant: a single value"
    unique_per_row = distinct == n_rows and n_rows >= MIN_ROWS_FOR_ID_CHECK
    if kind == CATEGORICAL and unique_per_row:
        return "ID-like: a different value on every row"
    if kind == NUMERIC and unique_per_row and pd.api.types.is_integer_dtype(values):
        ordered = np.sort(values.to_numpy())
        if ID_NAME.search(str(series.name)) or bool((np.diff(ordered) == 1).all()):
            return "ID-like: a unique integer on every row"
    if kind == CATEGORICAL and distinct > max_categories:
        return f"too many categories: {distinct} distinct values (limit {max_categories})"
    return None


def check_target(series: pd.Series) -> list[Any]:
    """Return the sorted classes of a target column, or explain why it cannot be one."""
    name = series.name
    values = series.dropna()
    if values.empty:
        raise InvalidInput(f"target column {name!r} has no values", {"target": str(name)})
    if pd.api.types.is_object_dtype(values) and values.map(type).isin([dict, list]).any():
        raise InvalidInput(
            f"target column {name!r} holds nested values (objects or lists); "
            "a target needs plain labels",
            {"target": str(name)},
        )
    if pd.api.types.is_float_dtype(values) and not np.allclose(values, np.round(values)):
        raise InvalidInput(
            f"target column {name!r} looks continuous (non-integer numbers): train it as a "
            "regression (task regression) or pick a column of classes",
            {"target": str(name)},
        )
    counts = values.value_counts()
    if len(counts) < 2:
        raise InvalidInput(
            f"target column {name!r} has a single class ({to_python(counts.index[0])!r}); "
            "a classifier needs at least two",
            {"target": str(name)},
        )
    if len(counts) > MAX_CLASSES:
        raise InvalidInput(
            f"target column {name!r} has {len(counts)} distinct values; that looks continuous "
            f"or ID-like (a classifier target may have at most {MAX_CLASSES} classes; a number "
            "to predict trains as a regression)",
            {"target": str(name)},
        )
    rare = [to_python(label) for label, count in counts.items() if count < 2]
    if rare:
        raise InvalidInput(
            f"target column {name!r}: classes {rare!r} have a single row; "
            "each class needs at least two rows to be split into train and test",
            {"target": str(name)},
        )
    labels = [to_python(label) for label in counts.index]
    # Blank labels make pandas read an int column as floats; the classes are still the ints.
    if pd.api.types.is_float_dtype(values) and bool((values == np.round(values)).all()):
        labels = [int(label) for label in labels]
    try:
        return sorted(labels)
    except TypeError as exc:
        raise InvalidInput(
            f"target column {name!r} mixes numbers and text; use one type for its labels",
            {"target": str(name)},
        ) from exc


def read_as(name: str, series: pd.Series, kind: str) -> pd.Series:
    """The column's values read as kind (a user's choice); refuse values that are not."""
    if kind == NUMERIC:
        return _as_numeric(name, series)
    if kind == BOOLEAN:
        return _as_boolean(name, series)
    if kind == DATETIME:
        return _parse_datetime(name, series)
    return category_text(series, [])


def _column_feature(
    series: pd.Series, forced: str | None, n_rows: int, max_categories: int
) -> Feature | str:
    """The feature a column becomes, or why it is dropped; forced is the user's kind."""
    name = str(series.name)
    if forced is None:
        kind = column_kind(series)
        reason = _drop_reason(series, kind, n_rows, max_categories)
    else:
        kind = forced
        # A chosen kind is the user's judgement: only empty, constant and oversized go.
        reason = _drop_reason(read_as(name, series, kind).rename(name), kind, 0, max_categories)
    if reason:
        return reason
    categories = None
    if kind == CATEGORICAL:
        categories = sorted(set(category_text(series, []).dropna()))
    return Feature(name=name, kind=kind, categories=categories)


def target_task(labelled: pd.Series, task: str | None) -> tuple[str, list[Any]]:
    """The task a labelled target trains as (task, or inferred) and its classes ([] for a
    regression); refuse a target that task cannot learn."""
    task = resolve_task(labelled, task)
    if task == REGRESSION:
        check_regression_target(labelled)
        return task, []
    return task, check_target(labelled)


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    max_categories: int = 1000,
    max_columns: int = 1000,
    exclude: list[str] | tuple[str, ...] = (),
    kinds: dict[str, str] | None = None,
    task: str | None = None,
) -> FeatureSchema:
    """Decide the task, each column's kind and which columns to drop (with the reason).

    exclude names columns to leave out; kinds gives columns a kind instead of the inferred
    one (IGNORE leaves the column out). Both are assumed checked (dsba.data.column_choices).
    task is None (inferred from the target), "classification" or "regression".
    """
    if target not in frame.columns:
        raise InvalidInput(
            f"target column {target!r} not found; "
            f"columns are: {', '.join(map(str, frame.columns))}",
            {"target": target},
        )
    if frame.shape[1] - 1 > max_columns:
        raise TooLarge(f"{frame.shape[1] - 1} feature columns exceed the limit of {max_columns}")
    kinds = kinds or {}
    labelled = frame[frame[target].notna()]
    task, classes = target_task(labelled[target], task)
    features: list[Feature] = []
    dropped: list[dict[str, str]] = []
    for column in labelled.columns:
        if column == target:
            continue
        forced = kinds.get(str(column))
        if str(column) in exclude or forced == IGNORE:
            dropped.append({"column": str(column), "reason": "excluded: left out on request"})
            continue
        outcome = _column_feature(labelled[column], forced, len(labelled), max_categories)
        if isinstance(outcome, str):
            dropped.append({"column": str(column), "reason": outcome})
        else:
            features.append(outcome)
    if not features:
        reasons = "; ".join(f"{d['column']}: {d['reason']}" for d in dropped) or "none given"
        raise InvalidInput(f"no usable feature columns remain ({reasons})", {"dropped": dropped})
    choices: dict[str, Any] = {}
    if exclude:
        choices["exclude"] = list(exclude)
    if kinds:
        choices["kinds"] = dict(kinds)
    return FeatureSchema(
        target=target,
        classes=classes,
        features=features,
        dropped=dropped,
        choices=choices,
        task=task,
    )


def encode_target(schema: FeatureSchema, series: pd.Series) -> np.ndarray:
    """Map target labels to class indices 0..k-1 (labels must be known classes); or values."""
    if schema.is_regression:
        return series.to_numpy(dtype=np.float64)
    codes = pd.Index(schema.classes).get_indexer(series)
    if (codes >= 0).all():
        return codes.astype(np.int32)
    # pandas keeps True and 1 apart; Python equality, which built the classes, does not.
    lookup = {label: index for index, label in enumerate(schema.classes)}
    return np.array([lookup[to_python(value)] for value in series], dtype=np.int32)


def _refuse_unreadable(name: str, series: pd.Series, bad: pd.Series, kind: str) -> None:
    """Refuse a column whose given values (bad marks them) cannot be read as kind."""
    if bad.any():
        rows = _row_list(bad)
        raise InvalidInput(
            f"column {name!r} must be {kind}; row {rows[0]} has {series[bad].iloc[0]!r}",
            {"column": name, "rows": rows},
        )


def _row_list(mask: pd.Series | np.ndarray, limit: int = 5) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(mask))[:limit]]


def beyond_float32(name: str, rows: list[int]) -> InvalidInput:
    """The error for finite numbers that float32, XGBoost's type, cannot hold (rows: where)."""
    return InvalidInput(
        f"column {name!r}: row {rows[0]} has a number beyond the model's range (3.4e38)",
        {"column": name, "rows": rows[:5]},
    )


def _as_numeric(name: str, series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(np.float32)
    if series.dtype.kind in "iuf":
        # Numbers already (a CSV's numeric column): nothing to coerce, nothing unreadable.
        converted = series
    else:
        converted = pd.to_numeric(series, errors="coerce")
        _refuse_unreadable(name, series, converted.isna() & series.notna(), "numeric")
    # numpy, not pandas, from here: a pandas operation costs about 100 µs even on one row.
    values = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    # float32 would turn them into infinity without a word.
    beyond = (np.abs(values) > FLOAT32_MAX) & np.isfinite(values)
    if beyond.any():
        raise beyond_float32(name, _row_list(beyond))
    return pd.Series(values.astype(np.float32), index=series.index, name=series.name)


def _as_boolean(name: str, series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(np.float32)
    result = series.astype(str).str.strip().str.lower().map(TRUTH_WORDS).astype(np.float32)
    _refuse_unreadable(name, series, result.isna() & series.notna(), "true/false")
    return result


def category_text(series: pd.Series, categories: list[Any]) -> pd.Series:
    """Each value as the text of a category; missing values stay missing."""
    text = series.astype(str).where(series.notna())
    if not pd.api.types.is_float_dtype(series):
        return text
    # A blank cell turns a column of whole numbers into floats (7 -> 7.0): a category "7"
    # is still meant, unless "7.0" itself is one.
    whole = series.notna() & (series.abs() < 2**53) & (series == np.round(series))
    if whole.any():
        as_int = series[whole].astype(np.int64).astype(str)
        keep = text[whole].isin(categories)
        text[whole] = text[whole].where(keep, as_int)
    return text


def _as_category(feature: Feature, series: pd.Series, warnings_out: list[str]) -> pd.Series:
    categories = feature.categories or []
    text = category_text(series, categories)
    unseen = text.notna() & ~text.isin(categories)
    if unseen.any():
        values = sorted(set(text[unseen].head(1000)))[:5]
        warnings_out.append(
            f"column {feature.name!r}: unseen categories {values!r} treated as missing "
            f"(rows {_row_list(unseen)})"
        )
        text = text.where(~unseen)
    # Factorising, then setting the stored categories, gives the same codes as
    # pd.Categorical(text, categories) about five times faster on long string columns.
    return text.astype("category").cat.set_categories(categories).rename(feature.name)


def _parse_datetime(name: str, series: pd.Series) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
    _refuse_unreadable(name, series, parsed.isna() & series.notna(), "a date/time")
    return parsed


def _datetime_parts(name: str, series: pd.Series) -> dict[str, pd.Series]:
    accessor = _parse_datetime(name, series).dt
    return {
        f"{name}__{part}": getattr(accessor, _PART_ACCESSORS.get(part, part)).astype(np.float32)
        for part in DATETIME_PARTS
    }


def prepare_features(
    schema: FeatureSchema, frame: pd.DataFrame, *, strict: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """Build the model matrix from a frame: same columns, types and categories as training."""
    warnings_out: list[str] = []
    missing = [f.name for f in schema.features if f.name not in frame.columns]
    if missing and strict:
        raise InvalidInput(
            f"missing feature columns: {', '.join(missing)}", {"missing_columns": missing}
        )
    known = {f.name for f in schema.features} | {schema.target}
    known |= {d["column"] for d in schema.dropped}
    extra = [str(c) for c in frame.columns if c not in known]
    if extra:
        warnings_out.append(f"ignored columns not used by the model: {', '.join(extra)}")
    columns: dict[str, pd.Series] = {}
    for feature in schema.features:
        series = frame[feature.name] if feature.name in frame.columns else None
        if series is None:
            series = pd.Series(np.nan, index=frame.index, dtype=np.float64)
        if feature.kind == NUMERIC:
            columns[feature.name] = _as_numeric(feature.name, series)
        elif feature.kind == BOOLEAN:
            columns[feature.name] = _as_boolean(feature.name, series)
        elif feature.kind == CATEGORICAL:
            columns[feature.name] = _as_category(feature, series, warnings_out)
        else:
            columns.update(_datetime_parts(feature.name, series))
    return pd.DataFrame(columns, index=frame.index), warnings_out
