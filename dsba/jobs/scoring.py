"""Score a staged file in pieces: one scored CSV, a digest of what the model could not read,
and, when the file holds the target, the metrics on it (and its labels as feedback).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics

from dsba.config import Settings
from dsba.data.chunks import check_rows, count_rows, read_chunks
from dsba.data.limits import Limits
from dsba.data.schema import FeatureSchema
from dsba.jobs.job_store import start_job
from dsba.jobs.scoring_files import ScoringFiles
from dsba.model.evaluation import headline_metrics
from dsba.model.intervals import coverage_and_width
from dsba.model.prediction import ID_COLUMN, ID_COLUMN_TAKEN, Predictions
from dsba.model.regression_evaluation import regression_metrics, value_summary
from dsba.monitoring.feedback_store import MAX_ITEMS, label_text, record_feedback
from dsba.monitoring.prediction_log import PredictionLog
from dsba.registry.model_registry import ModelRegistry

# The kind of a scoring job's request (a training job's request has none).
SCORE = "score"
# Per-row explanations: this many features, each with its contribution.
TOP_FEATURES = 3
EXAMPLES = 5
Progress = Callable[[int, int], None]


class Scorer(Protocol):
    """What scoring needs of dsba.service.LocalService (which this layer cannot import)."""

    settings: Settings
    registry: ModelRegistry
    prediction_log: PredictionLog | None

    def text_features(self, ref: str) -> tuple[str, frozenset[str]]: ...

    def predict_frame(self, ref: str, frame: pd.DataFrame, **options: Any) -> Predictions: ...


def job_limits(settings: Settings) -> Limits:
    """A file scored in the background may be as large as a dataset upload."""
    return Limits(
        settings.max_rows, settings.max_columns, settings.max_upload_bytes, "upload limit"
    )


def explanation_columns(contributions: list[dict[str, float]]) -> pd.DataFrame:
    """top_feature_<i> and top_contribution_<i> columns from each row's contributions."""
    columns: dict[str, list[Any]] = {}
    for i in range(1, TOP_FEATURES + 1):
        columns[f"top_feature_{i}"], columns[f"top_contribution_{i}"] = [], []
    for row in contributions:
        top = list(row.items())[:TOP_FEATURES]
        top += [(None, None)] * (TOP_FEATURES - len(top))
        for i, (feature, value) in enumerate(top, start=1):
            columns[f"top_feature_{i}"].append(feature)
            columns[f"top_contribution_{i}"].append(value)
    return pd.DataFrame(columns)


class Digest:
    """What the pieces add up to: label counts, unseen values, truths for metrics."""

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema, self.rows = schema, 0
        self.labels: Counter[str] = Counter()
        self.columns: dict[str, dict[str, Any]] = {}
        self.rows_with_unseen = self.unreliable = 0
        self.unreliable_rows: list[int] = []
        self.truth: list[np.ndarray] = []
        self.proba: list[np.ndarray] = []
        self.no_truth = 0
        self.index = {label_text(c): i for i, c in enumerate(schema.classes)}
        # A regression's predicted values and bounds, and its targets against its values.
        self.values: list[np.ndarray] = []
        self.bounds: list[np.ndarray] = []
        self.known_values: list[np.ndarray] = []
        self.known_bounds: list[np.ndarray] = []

    def add(self, frame: pd.DataFrame, scored: Predictions) -> None:
        """Count one scored piece."""
        if self.schema.is_regression:
            self.values.append(np.asarray(scored.labels, dtype=np.float64))
            self.bounds.append(np.asarray(scored.intervals, dtype=np.float64).reshape(-1, 2))
        else:
            self.labels.update(map(str, scored.labels))
        if scored.report is not None:
            self._add_report(scored.report.summary(self.schema))
        if self.schema.target in frame.columns and self.schema.is_regression:
            truth = pd.to_numeric(frame[self.schema.target], errors="coerce").to_numpy(np.float64)
            known = np.isfinite(truth)
            self.no_truth += int(np.count_nonzero(~known))
            self.truth.append(truth[known])
            self.known_values.append(self.values[-1][known])
            self.known_bounds.append(self.bounds[-1][known])
        elif self.schema.target in frame.columns:
            truth = self.truth_of(frame[self.schema.target])
            known = truth >= 0
            self.no_truth += int(np.count_nonzero(~known))
            self.truth.append(truth[known])
            self.proba.append(scored.probabilities[known])
        self.rows += len(frame)

    def truth_of(self, target: pd.Series) -> np.ndarray:
        """Class index of each true label; -1 where it is missing or not a class."""
        return np.array(
            [-1 if pd.isna(v) else self.index.get(label_text(v), -1) for v in target], np.int64
        )

    def _add_report(self, summary: dict[str, Any]) -> None:
        offset = self.rows
        self.rows_with_unseen += summary["rows_with_unseen"]
        self.unreliable += summary["unreliable"]
        self.unreliable_rows += [offset + r for r in summary["unreliable_rows"]]
        for column in summary["columns"]:
            kept = self.columns.setdefault(
                column["name"],
                {**column, "unseen": 0, "missing": 0, "rows": [], "counts": Counter()},
            )
            kept["unseen"] += column["unseen"]
            kept["missing"] += column["missing"]
            kept["rows"] += [offset + r for r in column["rows"]]
            for example in column["examples"]:
                kept["counts"][example["value"]] += example["count"]
                kept.setdefault("suggest", {})[example["value"]] = example["suggest"]

    def summary(self) -> dict[str, Any]:
        """The JSON digest the result page shows (the same keys as a file scored at once)."""
        columns = []
        for column in self.columns.values():
            counts, suggest = column.pop("counts"), column.pop("suggest", {})
            column["examples"] = [
                {"value": value, "count": count, "suggest": suggest.get(value)}
                for value, count in counts.most_common(EXAMPLES)
            ]
            column["rows"] = column["rows"][:EXAMPLES]
            columns.append(column)
        columns.sort(key=lambda c: (-c["unseen"], -c["missing"]))
        return (
            {
                "rows": self.rows,
                "features": len(self.schema.features),
                "columns": columns,
                "rows_with_unseen": self.rows_with_unseen,
                "unreliable": self.unreliable,
                "unreliable_rows": self.unreliable_rows[:EXAMPLES],
                "labels": [[str(c), self.labels.get(str(c), 0)] for c in self.schema.classes],
            }
            | self._values()
            | self.evaluation()
        )

    def _values(self) -> dict[str, Any]:
        """A regression's predicted values: quantiles, mean interval width, a histogram."""
        if not self.schema.is_regression:
            return {}
        values = np.concatenate(self.values) if self.values else np.zeros(0)
        bounds = np.concatenate(self.bounds) if self.bounds else np.zeros((0, 2))
        return {"value_summary": value_summary(values, bounds)}

    def evaluation(self) -> dict[str, Any]:
        """Metrics against the file's target column, with the same functions as training."""
        if not self.truth:
            return {}
        truth = np.concatenate(self.truth)
        result: dict[str, Any] = {"evaluated_rows": len(truth), "unlabelled_rows": self.no_truth}
        if not len(truth):
            return result
        if self.schema.is_regression:
            values, bounds = np.concatenate(self.known_values), np.concatenate(self.known_bounds)
            covered = coverage_and_width(truth, bounds)
            measured = regression_metrics(truth, values) | {
                "interval_coverage": covered["coverage"],
                "interval_mean_width": covered["mean_width"],
            }
            return result | {"metrics": measured}
        proba = np.concatenate(self.proba)
        k = len(self.schema.classes)
        majority = int(np.bincount(truth, minlength=k).argmax())
        matrix = sk_metrics.confusion_matrix(truth, proba.argmax(axis=1), labels=list(range(k)))
        return result | {
            "metrics": headline_metrics(truth, proba, self.schema.classes, majority),
            "confusion_matrix": {
                "labels": [str(c) for c in self.schema.classes],
                "matrix": matrix.tolist(),
            },
        }


def _feedback(root: Path, name: str, target: pd.Series, ids: list[str]) -> dict[str, int]:
    """Give the file's true labels as feedback on the rows just logged."""
    items = [
        {"id": i, "label": label_text(v)}
        for i, v in zip(ids, target, strict=True)
        if not pd.isna(v)
    ]
    totals = dict.fromkeys(("accepted", "unmatched", "invalid"), 0)
    for start in range(0, len(items), MAX_ITEMS):
        answer = record_feedback(root, name, items[start : start + MAX_ITEMS])
        totals["accepted"] += answer["accepted"]
        totals["unmatched"] += answer["unmatched"]
        totals["invalid"] += len(answer["invalid"])
    return totals


def score_file(
    service: Scorer,
    request: dict[str, Any],
    progress: Progress,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Score the staged file a job names into its scored CSV; return the digest."""
    settings = service.settings
    root = settings.registry_dir
    files = ScoringFiles(root)
    token, fmt = request["input"], request["format"]
    path, limits = files.input_path(token, fmt), job_limits(settings)
    total = count_rows(path, fmt)
    check_rows(total, limits)
    progress(0, total)
    ref, text_columns = service.text_features(request["model"])
    model = service.registry.load(ref)
    schema = FeatureSchema.from_dict(model.schema)
    digest = Digest(schema)
    feedback = {"accepted": 0, "unmatched": 0, "invalid": 0}
    output = files.output_path(token)
    partial = output.with_suffix(".partial")
    columns: list[str] | None = None
    given: list[str] = []
    logged = service.prediction_log is not None
    give_feedback = request.get("feedback", True)
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        for frame in read_chunks(path, fmt, limits=limits, text_columns=text_columns):
            scored = service.predict_frame(
                ref,
                frame,
                source="batch" if logged else None,
                request_id=request_id,
                contributions=bool(request.get("explain")),
            )
            result = scored.to_frame(frame, flags=True)
            if scored.contributions is not None:
                explained = explanation_columns(scored.contributions)
                result = pd.concat([result, explained.set_axis(result.index)], axis=1)
            # JSON lines may name other keys on later lines: keep the first piece's columns.
            columns = columns or list(result.columns)
            given = given or [str(c) for c in frame.columns]
            result.reindex(columns=columns).to_csv(handle, header=not digest.rows, index=False)
            digest.add(frame, scored)
            if give_feedback and scored.ids is not None and schema.target in frame.columns:
                service.prediction_log.flush()  # feedback is matched against the written log
                target = frame[schema.target]
                for key, count in _feedback(root, model.name, target, scored.ids).items():
                    feedback[key] += count
            progress(digest.rows, max(total, digest.rows))
    os.replace(partial, output)
    summary = digest.summary()
    if logged:
        summary["id_column"] = ID_COLUMN_TAKEN if ID_COLUMN in given else ID_COLUMN
        if give_feedback and schema.target in given:
            summary["feedback"] = feedback
    known = {f.name for f in schema.features} | {schema.target}
    summary["ignored"] = [c for c in given if c not in known][:50]
    summary["explained"] = bool(request.get("explain"))
    return summary


def start_scoring(
    service: Scorer,
    ref: str,
    stream: IO[bytes],
    filename: str,
    *,
    explain: bool = False,
    feedback: bool = True,
) -> dict[str, Any]:
    """Stage an upload in the store, check its first rows, and start a job that scores it.

    The first piece is parsed and scored here, so a file the model cannot read (empty,
    binary, without the feature columns) is refused now rather than by a failed job.
    feedback: whether the file's true labels may be recorded (a writer's right).
    """
    settings = service.settings
    pinned, text_columns = service.text_features(ref)
    files = ScoringFiles(settings.registry_dir)
    token, fmt = files.stage(stream, filename, settings.max_upload_bytes)
    try:
        path, limits = files.input_path(token, fmt), job_limits(settings)
        pieces = read_chunks(path, fmt, limits=limits, text_columns=text_columns, chunk_rows=100)
        service.predict_frame(pinned, next(pieces).head(100))
    except BaseException:
        shutil.rmtree(files.folder_of(token), ignore_errors=True)
        raise
    request = {
        "kind": SCORE,
        "name": pinned.split(":")[0],
        "model": pinned,
        "input": token,
        "format": fmt,
        "filename": Path(filename or "").name[-200:],
        "explain": explain,
        "feedback": feedback,
    }
    return start_job(settings, request, progress={"rows": 0, "total": 0})
