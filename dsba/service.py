"""The operations every front end offers (CLI, web, API), run in this process on the store."""

from __future__ import annotations

import importlib.util
from typing import Any

import pandas as pd

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.data.ingestion import Dataset, read_source
from dsba.data.schema import categorical_features
from dsba.errors import Conflict, InvalidInput, NotFound
from dsba.jobs.job_store import JobStore
from dsba.model.dask_limits import refuse_on_dask
from dsba.model.intervals import DEFAULT_INTERVAL
from dsba.model.pipeline import train_and_register
from dsba.model.prediction import Predictions, predict_frame, predict_records
from dsba.model.search_options import SearchProgress
from dsba.model.threshold_version import save_threshold_version
from dsba.model.training import ProgressCallback
from dsba.monitoring.feedback_owner import record_feedback_any
from dsba.monitoring.feedback_store import record_feedback
from dsba.monitoring.labelled import export_predictions
from dsba.monitoring.prediction_log import PredictionLog
from dsba.monitoring.ranges import range_warnings, training_ranges
from dsba.monitoring.reference import REFERENCE_FILE
from dsba.monitoring.report import monitoring_report
from dsba.registry.compare import compare_versions, parse_versions
from dsba.registry.model_registry import LoadedModel, ModelRegistry
from dsba.registry.refs import parse_ref

# What the dask extra installs; the core install (`make run`, the default image) has neither.
DASK_MODULES = ("dask", "distributed")


def dask_installed() -> bool:
    """Whether the dask extra can be imported here, without importing it."""
    try:
        return all(importlib.util.find_spec(module) is not None for module in DASK_MODULES)
    except ImportError:  # a module whose import machinery refuses it is not usable either
        return False


class LocalService:
    """Train, list, inspect, alias, delete and predict against a local or mounted store."""

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry | None = None,
        prediction_log: PredictionLog | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or ModelRegistry(
            settings.registry_dir, cache_size=settings.model_cache_size
        )
        # Rows scored with a source (the front end) go to this log; none: nothing is logged.
        self.prediction_log = prediction_log

    def train(
        self,
        source: str | Dataset,
        *,
        target: str,
        name: str,
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
        """Train from a path, URL or parsed dataset; return the new version's metadata.

        time_budget (seconds) and trials ask for a hyperparameter search first.
        """
        dataset = source if isinstance(source, Dataset) else read_source(source, self.settings)
        return train_and_register(
            self.registry,
            dataset,
            name=name,
            target=target,
            settings=self.settings,
            params=params,
            test_size=test_size,
            seed=seed,
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

    def check_training(
        self,
        dataset_id: str,
        optimize: str | None = None,
        params: dict[str, Any] | None = None,
        time_budget: float | None = None,
        trials: int | None = None,
    ) -> None:
        """Refuse, before a job starts, what the dataset's training path cannot do."""
        if self.goes_to_dask(dataset_id):
            refuse_on_dask(optimize=optimize, params=params, time_budget=time_budget, trials=trials)

    def goes_to_dask(self, dataset_id: str) -> bool:
        """Whether a stored dataset trains on the Dask cluster; refuse it without the extra."""
        if not self.settings.dask_scheduler:
            return False
        datasets = DatasetStore(self.settings.registry_dir)
        path = datasets.folder / datasets.get(dataset_id)["id"] / "data.parquet"
        if path.stat().st_size < self.settings.dask_min_bytes:
            return False
        if not dask_installed():
            # Checked before a job starts, so the caller hears it instead of a failed job.
            raise Conflict(
                "this dataset trains on Dask here (DSBA_DASK_SCHEDULER is set and it is at"
                " least DSBA_DASK_MIN_BYTES), but the dask extra is not installed on this"
                " server: install dsba-platform[dask], or unset DSBA_DASK_SCHEDULER",
                {"dataset_id": dataset_id},
            )
        return True

    def train_stored(self, dataset_id: str, *, name: str, **options: Any) -> dict[str, Any]:
        """Train on a stored dataset: on the Dask cluster if one is set and the data is large."""
        datasets = DatasetStore(self.settings.registry_dir)
        if self.goes_to_dask(dataset_id):
            # The one place dask is imported: never without a scheduler configured.
            from dsba.model.dask_training import train_and_register_dask

            refuse_on_dask(
                optimize=options.pop("optimize", None),
                params=options.get("params"),
                time_budget=options.pop("time_budget", None),
                trials=options.pop("trials", None),
            )
            options.pop("search_progress", None)
            info = datasets.get(dataset_id)
            path = datasets.folder / info["id"] / "data.parquet"
            return train_and_register_dask(
                self.registry, info, path, name=name, settings=self.settings, **options
            )
        return self.train(datasets.load(dataset_id), name=name, **options)

    def jobs(self) -> list[dict[str, Any]]:
        """Recent training jobs, newest first."""
        return JobStore(self.settings).list()

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Ask a queued or running job to stop; return its record."""
        return JobStore(self.settings).cancel(job_id)

    def delete_job(self, job_id: str) -> dict[str, Any]:
        """Remove a finished (succeeded, failed or cancelled) job from the list."""
        return JobStore(self.settings).delete(job_id)

    def list_models(self) -> list[dict[str, Any]]:
        """Every model with its latest version, aliases and headline metrics."""
        return self.registry.list_models()

    def metadata(self, ref: str) -> dict[str, Any]:
        """Metadata of the version a reference points at."""
        return self.registry.get_metadata(ref)

    def delete(self, ref: str) -> dict[str, Any]:
        """Delete the exact version name:N (a bare name or alias is refused as too broad)."""
        parsed = parse_ref(ref)
        if parsed.version is None:
            raise InvalidInput(
                f"delete needs an exact version like {parsed.name}:1, not {ref!r}", {"ref": ref}
            )
        self.registry.delete_version(parsed.name, parsed.version)
        return {"deleted": f"{parsed.name}:{parsed.version}"}

    def delete_model(self, name: str) -> dict[str, Any]:
        """Delete every version and alias of a model; return the versions and aliases removed."""
        return self.registry.delete_model(name)

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a model, newest first, with its aliases and headline metrics."""
        registry = self.registry
        by_version: dict[int, list[str]] = {}
        for alias, target in sorted(registry.get_aliases(name).items()):
            # A split alias is listed on each version it sends traffic to.
            for version in target if isinstance(target, dict) else [target]:
                by_version.setdefault(int(version), []).append(alias)
        rows = []
        for version in reversed(registry.list_versions(name)):
            try:
                meta = registry.get_metadata(f"{name}:{version}")
            except NotFound:
                continue  # deleted while we were listing
            rows.append(
                {
                    "version": version,
                    "aliases": by_version.get(version, []),
                    "task": meta.get("task"),
                    "target": meta.get("target"),
                    "trained_at": meta.get("trained_at"),
                    "metrics": {
                        key: value
                        for key, value in (meta.get("metrics") or {}).items()
                        if not isinstance(value, dict)
                    },
                    "dataset_sha256": (meta.get("dataset") or {}).get("sha256"),
                }
            )
        return rows

    def compare(self, name: str, versions: Any) -> dict[str, Any]:
        """Metrics, parameters, schema and training data of versions of a model, side by side."""
        numbers = parse_versions(versions)
        metas = [self.registry.get_metadata(f"{name}:{v}") for v in numbers]
        schemas = [self.registry.get_schema(f"{name}:{v}") for v in numbers]
        return compare_versions(name, metas, schemas)

    def datasets(self) -> list[dict[str, Any]]:
        """Stored datasets, newest first."""
        return DatasetStore(self.settings.registry_dir).list()

    def delete_dataset(self, dataset_id: str) -> dict[str, Any]:
        """Delete a stored dataset, unless a queued or running job trains on it."""
        store = DatasetStore(self.settings.registry_dir)
        info = store.get(dataset_id)
        users = [
            job["id"]
            for job in JobStore(self.settings).active()
            if (job.get("request") or {}).get("dataset_id") == info["id"]
        ]
        if users:
            raise Conflict(
                f"dataset {info['id']} ({info.get('filename')}) is used by the training job"
                f"{'s' if len(users) > 1 else ''} {', '.join(users)}: wait for it to end or"
                " cancel it, then delete the dataset",
                {"dataset_id": info["id"], "jobs": users},
            )
        store.delete(info["id"])
        return {"deleted": info["id"], "filename": info.get("filename")}

    def delete_alias(self, name: str, alias: str) -> dict[str, Any]:
        """Remove name@alias; the versions it pointed at stay."""
        self.registry.delete_alias(name, alias)
        return {"name": name, "aliases": self.registry.get_aliases(name)}

    def set_threshold(self, ref: str, threshold: Any) -> dict[str, Any]:
        """Save a new version of ref's binary model with another decision threshold."""
        return save_threshold_version(self.registry, ref, threshold)

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        """Point name@alias at a version."""
        self.registry.set_alias(name, alias, version)
        return {"name": name, "aliases": self.registry.get_aliases(name)}

    def set_alias_split(self, name: str, alias: str, weights: dict[int, float]) -> dict[str, Any]:
        """Route name@alias to several versions by weight (a canary)."""
        self.registry.set_alias_split(name, alias, weights)
        return {"name": name, "aliases": self.registry.get_aliases(name)}

    def _split(self, name: str, alias: str) -> list[int]:
        target = self.registry.get_aliases(name).get(alias)
        if target is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        if not isinstance(target, dict):
            raise Conflict(f"{name}@{alias} points at one version ({target}); nothing to decide")
        return sorted(int(version) for version in target)

    def promote(self, name: str, alias: str) -> dict[str, Any]:
        """End a canary: send all of name@alias to the newest version of its split."""
        return self.set_alias(name, alias, self._split(name, alias)[-1])

    def rollback(self, name: str, alias: str) -> dict[str, Any]:
        """End a canary: send all of name@alias back to the oldest version of its split."""
        return self.set_alias(name, alias, self._split(name, alias)[0])

    def text_features(self, ref: str) -> tuple[str, frozenset[str]]:
        """Pin ref to one version; return it with the features a file must give as text."""
        model = self.registry.load(ref)  # cached: the schema costs no read of the store
        # Categories are matched as text: read as a number, "007" would be the unseen 7.
        return model.ref, categorical_features(model.schema)

    def predict_frame(
        self,
        ref: str,
        frame: pd.DataFrame,
        *,
        source: str | None = None,
        request_id: str | None = None,
        **options: Any,
    ) -> Predictions:
        """Score a frame with the referenced model; log the rows when a source is given."""
        model = self.registry.load(ref)
        result = predict_frame(model, frame, threads=self.settings.predict_threads, **options)
        result.warnings.extend(range_warnings(training_ranges(model), frame))
        return self._log(model, source, request_id, frame, result)

    def predict_records(
        self,
        ref: str,
        records: Any,
        *,
        source: str | None = None,
        request_id: str | None = None,
        **options: Any,
    ) -> Predictions:
        """Score JSON records with the referenced model; log the rows when a source is given."""
        model = self.registry.load(ref)
        result = predict_records(
            model,
            records,
            max_rows=self.settings.max_batch_rows,
            threads=self.settings.predict_threads,
            **options,
        )
        result.warnings.extend(range_warnings(training_ranges(model), records))
        return self._log(model, source, request_id, records, result)

    def _log(
        self,
        model: LoadedModel,
        source: str | None,
        request_id: str | None,
        inputs: Any,
        result: Predictions,
    ) -> Predictions:
        """Send scored rows to the prediction log; the ids land on the result."""
        if self.prediction_log is not None and source is not None:
            result.ids = self.prediction_log.record(model, source, request_id, inputs, result)
        return result

    def reference(self, ref: str) -> dict[str, Any] | None:
        """The reference profile of the referenced version (None if trained before profiles)."""
        return self.registry.load(ref).artifacts.get(REFERENCE_FILE)

    def monitoring(self, ref: str, since: Any = None, until: Any = None) -> dict[str, Any]:
        """The monitoring report of the referenced version over [since, until) (default 24 h)."""
        model = self.registry.load(ref)
        return monitoring_report(
            self.settings.registry_dir,
            model,
            model.artifacts.get(REFERENCE_FILE),
            since=since,
            until=until,
            settings=self.settings,
        )

    def feedback(self, ref: str | None, items: Any) -> dict[str, Any]:
        """Store ground-truth labels {id, label} for logged predictions of a model.

        ref names the model in any form (its name is what counts: a label applies to the
        version that made the prediction); None finds the model of each id in the logs.
        """
        root = self.settings.registry_dir
        if ref is None:
            return record_feedback_any(root, items)
        name, _version = self.registry.resolve(ref)
        return record_feedback(root, name, items)

    def predictions(
        self,
        ref: str,
        since: Any = None,
        until: Any = None,
        limit: int = 1000,
        format: str = "json",
    ) -> bytes | list[dict[str, Any]]:
        """The version's logged predictions in [since, until), feedback labels joined."""
        model = self.registry.load(ref)
        return export_predictions(
            self.settings.registry_dir, model, since=since, until=until, limit=limit, fmt=format
        )
