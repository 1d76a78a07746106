"""Train on a dataset and store the result as a new registry version."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sklearn
import xgboost as xgb

from dsba.config import Settings
from dsba.data.ingestion import Dataset
from dsba.data.schema import FeatureSchema
from dsba.data.target import REGRESSION
from dsba.model.intervals import DEFAULT_INTERVAL
from dsba.model.search_options import SearchProgress
from dsba.model.training import ProgressCallback, TrainingResult, train_model
from dsba.monitoring.reference import REFERENCE_FILE
from dsba.registry.model_registry import ModelRegistry
from dsba.registry.refs import validate_name


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model, recorded in its metadata."""
    return {
        "python": platform.python_version(),
        "xgboost": xgb.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


def task_name(schema: FeatureSchema) -> str:
    """The version's task as metadata records it: binary, multiclass or regression."""
    if schema.is_regression:
        return REGRESSION
    return "binary" if len(schema.classes) == 2 else "multiclass"


def build_metadata(
    result: TrainingResult, dataset: Dataset, *, test_size: float, seed: int, ran_on: str
) -> dict[str, Any]:
    """Everything a model version records about how it was made."""
    return {
        "target": result.schema.target,
        "classes": result.schema.classes,
        "task": task_name(result.schema),
        "params": result.params,
        "test_size": test_size,
        "seed": seed,
        "best_iteration": result.best_iteration,
        "metrics": result.evaluation["metrics"],
        "evaluation": {k: v for k, v in result.evaluation.items() if k != "metrics"},
        **({"intervals": result.intervals} if result.intervals else {}),
        "dataset": {
            "source": dataset.source,
            "format": dataset.format,
            "sha256": dataset.fingerprint,
            "bytes": dataset.n_bytes,
            "rows": result.rows,
            "columns": int(dataset.frame.shape[1]),
        },
        "features": [f.name for f in result.schema.features],
        "dropped_columns": result.schema.dropped,
        # The user's column choices, so a retrain can start from them.
        "columns": {"exclude": [], "kinds": {}} | result.schema.choices,
        "library_versions": library_versions(),
        "training_seconds": result.duration_seconds,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ran_on": ran_on,
        **(result.decision.metadata() if result.decision else {}),
        **({"search": result.search} if result.search else {}),
    }


def train_and_register(
    registry: ModelRegistry,
    dataset: Dataset,
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
    optimize: str | None = None,
    time_budget: float | None = None,
    trials: int | None = None,
    search_progress: SearchProgress | None = None,
) -> dict[str, Any]:
    """Train a model on dataset, save it as the next version of name, return its metadata."""
    validate_name(name)
    result = train_model(
        dataset.frame,
        target,
        params=params,
        test_size=test_size,
        seed=seed,
        threads=settings.train_threads,
        max_categories=settings.max_categories,
        progress=progress,
        exclude=exclude,
        kinds=kinds,
        task=task,
        interval=interval,
        optimize=optimize,
        time_budget=time_budget,
        trials=trials,
        search_progress=search_progress,
    )
    return register_result(
        registry,
        name,
        result,
        dataset,
        test_size=test_size,
        seed=seed,
        ran_on=f"local:{platform.node()}",
    )


def register_result(
    registry: ModelRegistry,
    name: str,
    result: TrainingResult,
    dataset: Dataset,
    *,
    test_size: float,
    seed: int,
    ran_on: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Save a training result as the next version of name; return the stored metadata."""
    metadata = build_metadata(result, dataset, test_size=test_size, seed=seed, ran_on=ran_on)
    metadata.update(extra or {})
    artifacts = {REFERENCE_FILE: result.reference} if result.reference else {}
    artifacts.update(result.artifacts)
    version = registry.save_version(
        name, result.booster, result.schema.to_dict(), metadata, artifacts=artifacts
    )
    return registry.get_metadata(f"{name}:{version}")
