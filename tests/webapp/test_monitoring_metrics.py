"""/metrics carries each watched version's drift per feature and its monitoring status,
recomputed at most once per interval, by one scrape at a time, within a budget."""

from __future__ import annotations

import palmerpenguins
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dsba.config import Settings
from dsba.errors import InvalidInput
from dsba.service import LocalService
from webapp import create_app, monitoring_metrics
from webapp.config import flask_config
from webapp.monitoring_metrics import MonitoringCollector, watched_versions


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """penguins:1 (aliased prod) and penguins:2 (latest); 150 rows logged for version 2."""
    root = tmp_path_factory.mktemp("monmetrics")
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    frame = palmerpenguins.load_penguins()
    frame.to_csv(root / "penguins.csv", index=False)
    service = LocalService(settings)
    for _ in range(2):
        service.train(
            str(root / "penguins.csv"),
            target="species",
            name="penguins",
            params={"n_estimators": 5},
        )
    service.set_alias("penguins", "prod", 1)
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True})
    rows = frame.drop(columns="species").sample(150, random_state=0)
    rows["flipper_length_mm"] *= 3
    records = [
        {k: None if pd.isna(v) else v for k, v in r.items()} for r in rows.to_dict("records")
    ]
    answer = app.test_client().post("/api/predict", json={"model": "penguins", "records": records})
    assert answer.status_code == 200
    app.extensions["dsba"].service.prediction_log.close()
    return settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_watched_versions_are_the_latest_and_every_aliased_one():
    models = [
        {"name": "a", "latest_version": 3, "aliases": {"prod": 1, "canary": {"2": 0.9, "3": 0.1}}},
        {"name": "b", "latest_version": 1, "aliases": {}},
    ]
    assert watched_versions(models) == ["a:1", "a:2", "a:3", "b:1"]


def test_metrics_show_the_reports_drift_and_status(store):
    app = create_app({"DSBA_SETTINGS": store, "TESTING": True})
    text = app.test_client().get("/metrics").get_data(as_text=True)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    service = LocalService(store)
    for version in (1, 2):
        report = service.monitoring(f"penguins:{version}")
        statuses = {
            s.labels["status"]: s.value
            for s in families["dsba_model_monitoring_status"].samples
            if s.labels["version"] == str(version)
        }
        assert statuses[report["status"]] == 1 and sum(statuses.values()) == 1
        drift = {
            s.labels["feature"]: s.value
            for s in families["dsba_feature_drift"].samples
            if s.labels["version"] == str(version)
        }
        assert drift == {f["name"]: pytest.approx(f["score"]) for f in report["features"]}
    assert LocalService(store).monitoring("penguins:2")["status"] == "drift"
    assert LocalService(store).monitoring("penguins:1")["status"] == "no_data"


def test_reports_are_computed_once_per_interval_and_never_by_two_scrapes(store):
    clock = Clock()
    collector = MonitoringCollector(LocalService(store), interval=300, clock=clock)
    list(collector.collect())
    assert collector.reports_computed == 2
    clock.now += 299
    list(collector.collect())
    assert collector.reports_computed == 2  # cached
    clock.now += 1
    with collector._lock:  # another scrape is refreshing: this one answers the cache
        families = list(collector.collect())
    assert collector.reports_computed == 2
    assert any(s.value == 1 for s in families[1].samples)
    list(collector.collect())
    assert collector.reports_computed == 4


def test_a_refresh_stops_at_its_budget_and_the_next_takes_the_rest(store, monkeypatch):
    monkeypatch.setattr(monitoring_metrics, "REFRESH_BUDGET_SECONDS", 0.0)
    clock = Clock()

    class Slow(LocalService):
        def monitoring(self, ref, since=None, until=None):
            clock.now += 1  # each report takes a second of the budget
            return super().monitoring(ref, since, until)

    collector = MonitoringCollector(Slow(store), interval=0, clock=clock)
    list(collector.collect())
    assert collector.reports_computed == 1 and len(collector.samples) == 1
    list(collector.collect())
    assert collector.reports_computed == 2
    assert set(collector.samples) == {"penguins:1", "penguins:2"}


def test_the_refresh_interval_is_read_from_the_environment(tmp_path):
    settings = Settings(registry_dir=tmp_path)
    assert flask_config(settings, {})["DSBA_MONITORING_METRICS_SECONDS"] == 300
    env = {"DSBA_MONITORING_METRICS_SECONDS": "60"}
    assert flask_config(settings, env)["DSBA_MONITORING_METRICS_SECONDS"] == 60
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(InvalidInput, match="DSBA_MONITORING_METRICS_SECONDS must be"):
            flask_config(settings, {"DSBA_MONITORING_METRICS_SECONDS": bad})
