"""Train on a Dask cluster: xgboost.dask over the Parquet partitions of a stored dataset.

The only module that imports dask, with dsba.model.dask_regression (its regression part);
dsba.service imports it only when DSBA_DASK_SCHEDULER is set and the dataset is large enough.
The workers read the Parquet file themselves, so they must see the store at the same path as
the job process (on Azure: the same File Share mounted at the same path) and run the same
dsba, xgboost and pandas versions.

Where it differs from dsba.model.training, and why:
- The schema is inferred on a seeded random sample of at most SCHEMA_SAMPLE_ROWS labelled
  rows (the whole data when smaller); category lists and classes are then recomputed on all
  rows, so every value seen in training has its code. Empty, constant and ID-like columns
  (and a category count already over the limit) are judged on the sample.
- The split is not stratified: each row goes to test, validation or fit (and, for a
  regression, calibration) by a seeded hash of its values, which is deterministic,
  independent of partitioning, keeps duplicate rows on one side, and gives every class the
  same expected share in each part.
- hist on several workers merges per-worker quantile sketches: the model is close to, not
  bit-identical with, one trained in one process on the same rows.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import xgboost as xgb
import xgboost.dask as dxgb

from dsba.config import Settings
from dsba.data.column_choices import check_choices, check_kind_values
from dsba.data.ingestion import Dataset
from dsba.data.schema import (
    CATEGORICAL,
    Feature,
    FeatureSchema,
    check_target,
    encode_target,
    infer_schema,
    prepare_features,
)
from dsba.data.target import REGRESSION, check_regression_target, resolve_task
from dsba.errors import DsbaError, InvalidInput
from dsba.model.dask_limits import refuse_on_dask
from dsba.model.dask_regression import calibration_share, check_target_dask, train_regression_dask
from dsba.model.evaluation import evaluate
from dsba.model.intervals import DEFAULT_INTERVAL, check_interval
from dsba.model.params import validate_params
from dsba.model.pipeline import register_result
from dsba.model.training import ProgressCallback, TrainingResult, booster_params
from dsba.monitoring.reference import build_reference, build_regression_reference
from dsba.registry.model_registry import ModelRegistry
from dsba.registry.refs import validate_name

SCHEMA_SAMPLE_ROWS = 200_000
# The reference profile monitoring compares against is taken on a seeded sample of the
# training rows (fit and validation parts) of at most this many rows.
REFERENCE_SAMPLE_ROWS = 100_000
CONNECT_TIMEOUT = "20s"
TEST, VALIDATION, FIT, CALIBRATION = 0, 1, 2, 3
# Reserved columns of the prepared partitions, beside the model columns.
LABEL, PART = "__dsba_label__", "__dsba_part__"


def row_parts(
    frame: pd.DataFrame,
    seed: int,
    test_size: float,
    validation: float,
    calibration: float = 0.0,
) -> np.ndarray:
    """Assign each row to TEST, CALIBRATION, VALIDATION or FIT from a seeded hash of its values.

    calibration (a regression's interval slice) and validation are shares of the non-test rows;
    without calibration the parts are those of a classifier.
    """
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(np.uint64)
    # hash_key only seeds string hashing; mixing the seed in here covers numeric rows too.
    mixed = pd.util.hash_array(rows ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    uniform = mixed / 2.0**64
    parts = np.full(len(frame), FIT, dtype=np.int8)
    calibrated = test_size + (1.0 - test_size) * calibration
    parts[uniform < calibrated + (1.0 - test_size) * (1.0 - calibration) * validation] = VALIDATION
    parts[uniform < calibrated] = CALIBRATION
    parts[uniform < test_size] = TEST
    return parts


def _prepare_partition(part: pd.DataFrame, schema: FeatureSchema, **split: Any) -> pd.DataFrame:
    """The model matrix of a partition's labelled rows, with their class index and part."""
    labelled = part[part[schema.target].notna()]
    x, _ = prepare_features(schema, labelled)
    x[LABEL] = encode_target(schema, labelled[schema.target])
    x[PART] = row_parts(labelled, **split)
    return x


def _train_rows(part: pd.DataFrame, target: str, **split: Any) -> pd.DataFrame:
    """A partition's labelled rows outside the test part, as read (for the reference)."""
    labelled = part[part[target].notna()]
    return labelled[row_parts(labelled, **split) != TEST]


def reference_dask(
    ddf: dd.DataFrame,
    schema: FeatureSchema,
    evaluation: dict[str, Any],
    test: tuple[np.ndarray, ...],
    train_rows: int,
    **split: Any,
) -> dict[str, Any]:
    """The version's reference profile: features on a sample of the training rows."""
    rows = ddf.map_partitions(_train_rows, schema.target, **split, meta=ddf._meta)
    if train_rows > REFERENCE_SAMPLE_ROWS:
        rows = rows.sample(frac=REFERENCE_SAMPLE_ROWS / train_rows, random_state=split["seed"])
    sample = rows.compute().reset_index(drop=True)
    importance = {item["feature"]: item["gain"] for item in evaluation["feature_importance"]}
    features = [(f.name, f.kind) for f in schema.features]
    if schema.is_regression:  # test: targets, values, [lower, upper] bounds
        y_test, values, bounds = test
        return build_regression_reference(
            features, sample, y_test, values, importance, intervals_test=bounds
        )
    return build_reference(features, sample, *test, schema.classes, importance)


def infer_schema_dask(
    ddf: dd.DataFrame,
    target: str,
    *,
    max_categories: int,
    seed: int,
    task: str | None = None,
    **choices: Any,
) -> tuple[FeatureSchema, int]:
    """infer_schema on a sample, with the classes and category lists of all rows.

    The task, when not given, is inferred from the sample's target (a numeric one only).
    """
    if target not in ddf.columns:
        infer_schema(ddf._meta, target)  # raises local training's "not found" error
    labelled = ddf[ddf[target].notnull()]
    total = len(labelled)
    sample = labelled
    if total > SCHEMA_SAMPLE_ROWS:
        sample = labelled.sample(frac=SCHEMA_SAMPLE_ROWS / total, random_state=seed)
    numeric = pd.api.types.is_numeric_dtype(ddf._meta[target].dtype)
    if task == REGRESSION or (task is None and numeric):
        sample = sample.compute()
        task = resolve_task(sample[target], task)
    task = resolve_task(ddf._meta[target], task)
    classes: list[Any] = []
    if task == REGRESSION:
        check_regression_target(sample[target])
        check_target_dask(labelled[target])
    else:
        value_counts = labelled[target].value_counts(split_out=1)
        if isinstance(sample, dd.DataFrame):
            counts, sample = dask.compute(value_counts, sample)
        else:
            counts = value_counts.compute()
        # check_target looks only at the distinct labels and whether each has two rows.
        classes = check_target(
            counts.index.repeat(np.minimum(counts.to_numpy(), 2)).to_series(name=target)
        )
        if len(sample) < total:
            # A sample may miss a rare class (or hold one row of it): its target is a placeholder.
            sample[target] = np.arange(len(sample)) % 2
    check_kind_values(sample, choices.get("kinds") or {})
    draft = infer_schema(sample, target, max_categories=max_categories, task=task, **choices)
    categorical = [f.name for f in draft.features if f.kind == CATEGORICAL]
    uniques = dask.compute(
        *(labelled[name].dropna().astype(str).unique(split_out=1) for name in categorical)
    )
    full = dict(zip(categorical, uniques, strict=True))
    features, dropped = [], list(draft.dropped)
    for feature in draft.features:
        values = full.get(feature.name)
        if values is None:
            features.append(feature)
        elif len(values) > max_categories:
            reason = f"too many categories: {len(values)} distinct values (limit {max_categories})"
            dropped.append({"column": feature.name, "reason": reason})
        else:
            features.append(Feature(feature.name, CATEGORICAL, sorted(str(v) for v in values)))
    if not features:
        reasons = "; ".join(f"{d['column']}: {d['reason']}" for d in dropped)
        raise InvalidInput(f"no usable feature columns remain ({reasons})", {"dropped": dropped})
    order = list(ddf.columns)
    dropped.sort(key=lambda item: order.index(item["column"]))
    schema = FeatureSchema(
        target=target,
        classes=classes,
        features=features,
        dropped=dropped,
        choices=draft.choices,
        task=task,
    )
    return schema, len(sample)


class _ReportRounds(xgb.callback.TrainingCallback):
    """Runs on the workers: the first one publishes each finished round as a Dask event."""

    def __init__(self, topic: str, total: int) -> None:
        super().__init__()
        self.topic, self.total = topic, total

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if xgb.collective.get_rank() == 0:
            distributed.get_worker().log_event(self.topic, [epoch + 1, self.total])
        return False


def connect(address: str, timeout: str = CONNECT_TIMEOUT) -> distributed.Client:
    """A client of the scheduler at address, or a DsbaError saying it cannot be reached."""
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DsbaError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def _prepare(
    client: distributed.Client,
    path: Path,
    target: str,
    *,
    max_categories: int,
    task: str | None,
    choices: dict[str, Any],
    **split: Any,
) -> tuple[dd.DataFrame, FeatureSchema, int, dd.DataFrame, dict[str, Any]]:
    """Read and infer the schema; persist the model matrix with each row's label and part."""
    workers = sorted(client.nthreads())
    ddf = dd.read_parquet(str(path), split_row_groups=True)  # a partition per row group
    if ddf.npartitions < len(workers):
        ddf = ddf.repartition(npartitions=len(workers))
    schema, sample_rows = infer_schema_dask(
        ddf, target, max_categories=max_categories, seed=split["seed"], task=task, **choices
    )
    if schema.is_regression:
        labelled_rows = len(ddf[ddf[target].notnull()])
        split["calibration"] = calibration_share(labelled_rows, split["test_size"])
    meta = _prepare_partition(ddf._meta, schema, **split)
    prepared = ddf.map_partitions(_prepare_partition, schema, **split, meta=meta)
    # Partition i lives on worker i mod n: every worker trains, even on a file of one row
    # group, and the placement (hence the model) does not depend on the scheduler's timing.
    parts = [
        client.persist(prepared.partitions[i], workers=[workers[i % len(workers)]])
        for i in range(prepared.npartitions)
    ]
    return ddf, schema, sample_rows, dd.concat(parts), split


def _fit(
    client: distributed.Client,
    prepared: dd.DataFrame,
    schema: FeatureSchema,
    native: dict[str, Any],
    checked: dict[str, Any],
    seed: int,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """xgboost.dask.train with native params on the fit part, stopping early on validation."""
    columns = schema.model_columns
    fit, val = (prepared[prepared[PART] == part] for part in (FIT, VALIDATION))
    d_fit = dxgb.DaskQuantileDMatrix(
        client, fit[columns], fit[LABEL], enable_categorical=True, max_bin=checked["max_bin"]
    )
    d_val = dxgb.DaskQuantileDMatrix(
        client,
        val[columns],
        val[LABEL],
        ref=d_fit,
        enable_categorical=True,
        max_bin=checked["max_bin"],
    )
    total = checked["n_estimators"]
    topic = f"dsba-progress-{uuid.uuid4().hex}"
    if progress:
        client.subscribe_topic(topic, lambda event: progress(*event[1]))
    try:
        return dxgb.train(
            client,
            native,
            d_fit,
            num_boost_round=total,
            evals=[(d_fit, "train"), (d_val, "validation")],
            early_stopping_rounds=checked["early_stopping_rounds"],
            verbose_eval=False,
            callbacks=[_ReportRounds(topic, total)] if progress else None,
        )
    finally:
        if progress:
            client.unsubscribe_topic(topic)


def _test_predictions(
    client: distributed.Client, booster: xgb.Booster, prepared: dd.DataFrame, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities of the test part, predicted on the cluster."""
    test = prepared[prepared[PART] == TEST]
    # Only these come back to this process: the test part is a small share of the rows.
    raw, y_test = client.compute(
        [dxgb.inplace_predict(client, booster, test[booster.feature_names]), test[LABEL]],
        sync=True,
    )
    raw = np.asarray(raw)
    proba = np.column_stack([1.0 - raw, raw]) if n_classes == 2 else raw
    return y_test.to_numpy(), proba


def _train_classifier(
    client: distributed.Client,
    ddf: dd.DataFrame,
    prepared: dd.DataFrame,
    schema: FeatureSchema,
    checked: dict[str, Any],
    split: dict[str, Any],
    progress: ProgressCallback | None,
) -> tuple[xgb.Booster, int, dict[str, Any], dict[str, Any], dict[str, int]]:
    """Fit and evaluate a classifier; its reference profile and rows per part."""
    counts = prepared.groupby([PART, LABEL]).size().compute()
    per_part = counts.groupby(level=0).sum()
    if any(per_part.get(part, 0) == 0 for part in (FIT, VALIDATION, TEST)):
        raise InvalidInput(
            f"too few labelled rows ({int(per_part.sum())}) for a train/validation/test split"
        )
    seed = split["seed"]
    native = booster_params(checked, len(schema.classes), seed, threads=0)
    output = _fit(client, prepared, schema, native, checked, seed, progress)
    best = int(output["booster"].best_iteration)
    # Keep only the trees up to the best round, so serving needs no iteration_range.
    booster = output["booster"][: best + 1]
    y_test, proba = _test_predictions(client, booster, prepared, len(schema.classes))
    train_counts = counts.drop(TEST, level=0, errors="ignore").groupby(level=1).sum()
    evaluation = evaluate(
        booster, schema, y_test, proba, int(train_counts.idxmax()), output["history"]
    )
    train_rows = int(per_part.get(FIT, 0) + per_part.get(VALIDATION, 0))
    reference = reference_dask(ddf, schema, evaluation, (y_test, proba), train_rows, **split)
    rows = {
        "labelled": int(per_part.sum()),
        "train": int(per_part.get(FIT, 0)),
        "validation": int(per_part.get(VALIDATION, 0)),
        "test": int(per_part.get(TEST, 0)),
    }
    return booster, best, evaluation, reference, rows


def train_model_dask(
    client: distributed.Client,
    path: Path,
    target: str,
    *,
    params: dict[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 42,
    max_categories: int = 1000,
    progress: ProgressCallback | None = None,
    exclude: list[str] | None = None,
    kinds: dict[str, str] | None = None,
    task: str | None = None,
    interval: float = DEFAULT_INTERVAL,
) -> tuple[TrainingResult, dict[str, Any]]:
    """train_model on the cluster over the Parquet at path; also say where it ran."""
    started = time.perf_counter()
    if not 0.05 <= test_size <= 0.5:
        raise InvalidInput(f"test_size must be between 0.05 and 0.5, got {test_size}")
    check_interval(interval)
    # The same parameter errors, first, as before regression: "objective" waits for the task.
    checked = validate_params({k: v for k, v in (params or {}).items() if k != "objective"})
    refuse_on_dask(params=checked)
    columns = pq.read_schema(path).names
    exclude, kinds = check_choices(columns, target, exclude, kinds)
    intervals, artifacts, reference = None, {}, None
    # Every compute below, len() included, must run on this client's cluster.
    with client.as_current():
        try:
            ddf, schema, sample_rows, prepared, split = _prepare(
                client,
                path,
                target,
                max_categories=max_categories,
                task=task,
                choices={"exclude": exclude, "kinds": kinds},
                seed=seed,
                test_size=test_size,
                validation=checked["validation_fraction"],
            )
        except FileNotFoundError as exc:
            raise DsbaError(
                f"the Dask workers cannot read {path}: mount the store on every worker at "
                "the same path as in the app"
            ) from exc
        checked = validate_params(params, regression=schema.is_regression)
        if schema.is_regression:
            parts = {"train": FIT, "validation": VALIDATION, "calibration": CALIBRATION}
            booster, best, evaluation, interval_model, rows, test = train_regression_dask(
                client,
                prepared,
                schema,
                checked,
                parts={**parts, "test": TEST},
                label=LABEL,
                part=PART,
                fit=_fit,
                seed=seed,
                interval=interval,
                progress=progress,
            )
            rows = {"labelled": sum(rows.values()), **rows}
            intervals, artifacts = interval_model.metadata(), interval_model.artifacts()
            train_rows = rows["labelled"] - rows["test"]
            reference = reference_dask(ddf, schema, evaluation, test, train_rows, **split)
        else:
            booster, best, evaluation, reference, rows = _train_classifier(
                client, ddf, prepared, schema, checked, split, progress
            )
        rows = {"total": len(ddf), **rows}
        where = {
            "scheduler": client.scheduler.address,
            "workers": len(client.nthreads()),
            "partitions": ddf.npartitions,
            "schema_sample_rows": sample_rows,
            "split": "seeded hash of each row's values (not stratified)",
        }
    result = TrainingResult(
        booster=booster,
        schema=schema,
        params=checked,
        evaluation=evaluation,
        rows=rows,
        best_iteration=best,
        duration_seconds=round(time.perf_counter() - started, 3),
        reference=reference,
        intervals=intervals,
        artifacts=artifacts,
    )
    return result, where


def train_and_register_dask(
    registry: ModelRegistry,
    info: dict[str, Any],
    path: Path,
    *,
    name: str,
    target: str,
    settings: Settings,
    params: dict[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 42,
    progress: ProgressCallback | None = None,
    exclude: list[str] | None = None,
    kinds: dict[str, str] | None = None,
    task: str | None = None,
    interval: float = DEFAULT_INTERVAL,
) -> dict[str, Any]:
    """Train on the cluster at settings.dask_scheduler; save the next version of name."""
    validate_name(name)
    with connect(settings.dask_scheduler) as client:
        result, where = train_model_dask(
            client,
            path,
            target,
            params=params,
            test_size=test_size,
            seed=seed,
            max_categories=settings.max_categories,
            progress=progress,
            exclude=exclude,
            kinds=kinds,
            task=task,
            interval=interval,
        )
    # The metadata reads only the column count from the frame: the header is enough.
    header = pd.DataFrame(columns=pq.read_schema(path).names)
    dataset = Dataset(header, info["sha256"], info["source"], info["format"], info["bytes"])
    return register_result(
        registry,
        name,
        result,
        dataset,
        test_size=test_size,
        seed=seed,
        ran_on=f"dask:{settings.dask_scheduler}",
        extra={"dask": where},
    )
