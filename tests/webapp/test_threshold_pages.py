"""The pages apply a version's threshold: the one-row form, batch scoring, and the train form."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.jobs.job_store import JobStore
from dsba.service import LocalService
from tests.imbalanced import imbalanced_cancer
from webapp import create_app


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store holding cancer v1, trained for balanced accuracy."""
    root = tmp_path_factory.mktemp("threshold-pages")
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    path = root / "cancer.csv"
    imbalanced_cancer(2).to_csv(path, index=False)
    LocalService(settings).train(
        str(path),
        target="diagnosis",
        name="cancer",
        test_size=0.3,
        seed=2,
        optimize="balanced_accuracy",
    )
    return settings


@pytest.fixture(scope="module")
def client(settings):
    """A test client of an app over the store."""
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})
    return app.test_client()


@pytest.fixture(scope="module")
def scored(settings):
    """The table's features with the positive-class probability and the version's threshold."""
    service = LocalService(settings)
    features = imbalanced_cancer(2).drop(columns="diagnosis")
    p = service.predict_frame("cancer", features).probabilities[:, 1]
    return features, p, service.metadata("cancer")["threshold"]


def test_the_form_predicts_the_positive_class_above_the_threshold(client, scored):
    features, p, threshold = scored
    # A row between the threshold and one half: malignant here, benign by the likelier class.
    row = features.iloc[int(np.flatnonzero((p >= threshold + 1e-4) & (p < 0.5))[0])]
    form = {f"f{i}": repr(float(v)) for i, v in enumerate(row)}
    html = client.post("/models/cancer/predict", data=form).get_data(as_text=True)
    label = re.search(r'data-testid="predicted-label">([^<]+)<', html).group(1)
    assert label == "malignant"


def test_batch_scoring_applies_the_threshold(client, scored):
    features, p, threshold = scored
    data = {"file": (io.BytesIO(features.to_csv(index=False).encode()), "rows.csv")}
    location = client.post("/models/cancer/predict/batch", data=data).headers["Location"]
    out = pd.read_csv(io.BytesIO(client.get(f"{location}/download").data))
    assert out["prediction"].tolist() == np.where(p >= threshold, "malignant", "benign").tolist()
    assert (out["prediction"] == "malignant").sum() > (p >= 0.5).sum()


def test_the_train_form_sends_the_metric(client, settings):
    raw = imbalanced_cancer(3).to_csv(index=False).encode()
    location = client.post("/train", data={"file": (io.BytesIO(raw), "c.csv")}).headers["Location"]
    form = {"target": "diagnosis", "name": "from-form", "test_size": "0.3", "seed": "3"}
    response = client.post(location, data=form | {"optimize": "f1"})
    assert response.status_code == 302, response.text
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = JobStore(settings).get(job_id)
    assert job["request"]["optimize"] == "f1"
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = JobStore(settings).get(job_id)
    assert job["state"] == "succeeded", job
    meta = LocalService(settings).metadata("from-form")
    assert meta["optimize"] == "f1" and meta["threshold"] is not None
    html = client.get("/models/from-form").get_data(as_text=True)
    assert 'data-testid="threshold-slider"' in html and "chosen for f1" in html
