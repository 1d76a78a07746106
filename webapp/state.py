"""The dsba objects one app uses, kept on app.extensions and reached from views."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from dsba.config import Settings
from dsba.datasets import DatasetStore
from dsba.jobs import JobStore
from dsba.service import LocalService


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
            service=LocalService(settings),
            datasets=DatasetStore(settings.registry_dir),
            jobs=JobStore(settings),
        )


def init_state(app: Flask, settings: Settings) -> None:
    """Attach the dsba state to the app."""
    app.extensions["dsba"] = AppState.build(settings)


def state() -> AppState:
    """The dsba state of the current app."""
    return current_app.extensions["dsba"]
