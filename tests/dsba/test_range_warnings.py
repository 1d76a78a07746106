"""A prediction from numbers outside the training range says so, at no cost to the store."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dsba.config import Settings
from dsba.service import LocalService

PENGUIN = {"island": "Biscoe", "bill_length_mm": 45.1, "bill_depth_mm": 14.5}
PENGUIN |= {"flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "female", "year": 2008}


def test_out_of_range_numbers_are_named_in_the_warnings(penguins_registry, monkeypatch):
    service = LocalService(Settings(registry_dir=penguins_registry))
    reads: list[str] = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: reads.append(path.name) or original(path))
    assert service.predict_records("penguins", [PENGUIN]).warnings == []
    far = [dict(PENGUIN, flipper_length_mm=645.0), dict(PENGUIN, body_mass_g=10.0), PENGUIN]
    [warning] = service.predict_records("penguins", far).warnings
    assert "flipper_length_mm in 1 row (e.g. 645; trained on" in warning
    assert "body_mass_g in 1 row (e.g. 10; trained on" in warning
    assert "bill_length_mm" not in warning
    # The same from a frame, from text numbers, and from a batch past the few-rows path.
    frame = pd.DataFrame(far * 10)
    [from_frame] = service.predict_frame("penguins", frame).warnings
    assert "flipper_length_mm in 10 rows (e.g. 645;" in from_frame
    text = [dict(PENGUIN, flipper_length_mm="645")]
    assert "flipper_length_mm in 1 row" in service.predict_records("penguins", text).warnings[0]
    assert reads.count("reference.json") == 1  # read once, with the model's first load


def test_missing_values_and_booleans_are_not_out_of_range(penguins_registry):
    service = LocalService(Settings(registry_dir=penguins_registry))
    rows = [dict(PENGUIN, bill_length_mm=math.nan, body_mass_g=None)]
    assert service.predict_records("penguins", rows).warnings == []
    assert service.predict_records("penguins", rows * 20).warnings == []
