"""Canary releases over HTTP on the real gunicorn: a 50/50 split, promote, rollback."""

from __future__ import annotations

import requests
from datagen import two_version_store


def test_fifty_fifty_split_then_promote_and_rollback(start_gunicorn, tmp_path):
    registry = tmp_path / "registry"
    two_version_store(registry)
    server = start_gunicorn(DSBA_REGISTRY_DIR=str(registry))
    http = requests.Session()
    split = http.put(
        f"{server.url}/api/models/m/aliases/production/split",
        json={"weights": {"1": 50, "2": 50}},
        timeout=10,
    )
    assert split.status_code == 200, split.text
    assert split.json()["aliases"]["production"] == {"1": 0.5, "2": 0.5}

    answered = []
    for _ in range(400):
        response = http.post(
            f"{server.url}/api/predict",
            timeout=10,
            json={"model": "m@production", "records": [{"x": 0.1, "z": 0.2}]},
        )
        assert response.status_code == 200, response.text
        answered.append(response.json()["model"])
    # 400 fair coin flips: outside 200 +- 40 (4 standard deviations) is a 1-in-15,000 event.
    assert set(answered) == {"m:1", "m:2"}
    assert abs(answered.count("m:1") - 200) < 40

    promoted = http.post(f"{server.url}/api/models/m/aliases/production/promote", timeout=10)
    assert promoted.json()["aliases"]["production"] == 2
    single = http.post(
        f"{server.url}/api/predict",
        timeout=10,
        json={"model": "m@production", "records": [{"x": 0.1, "z": 0.2}]},
    )
    assert single.json()["model"] == "m:2"
    again = http.post(f"{server.url}/api/models/m/aliases/production/promote", timeout=10)
    assert again.status_code == 409

    http.put(
        f"{server.url}/api/models/m/aliases/production/split",
        json={"weights": {"1": 90, "2": 10}},
        timeout=10,
    )
    rolled = http.post(f"{server.url}/api/models/m/aliases/production/rollback", timeout=10)
    assert rolled.json()["aliases"]["production"] == 1


def test_split_refuses_bad_weights(start_gunicorn, tmp_path):
    registry = tmp_path / "registry"
    two_version_store(registry)
    server = start_gunicorn(DSBA_REGISTRY_DIR=str(registry))
    url = f"{server.url}/api/models/m/aliases/production/split"
    for weights, status in (({"1": -1}, 422), ({"x": 1}, 422), ({}, 422), ({"9": 1}, 404)):
        response = requests.put(url, json={"weights": weights}, timeout=10)
        assert response.status_code == status, (weights, response.text)
        assert "message" in response.json()
