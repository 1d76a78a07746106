"""The model page shows and edits canary splits; promote and rollback are one click each."""

from __future__ import annotations

import pytest
from datagen import two_version_store

from webapp import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app over a store holding m:1 and m:2."""
    service = two_version_store(tmp_path_factory.mktemp("canary") / "registry")
    return create_app(
        {"DSBA_SETTINGS": service.settings, "TESTING": True, "WTF_CSRF_ENABLED": False}
    )


def test_split_promote_rollback_from_the_model_page(app):
    client = app.test_client()
    page = client.get("/models/m").get_data(as_text=True)
    assert "No alias is split between versions." in page
    assert 'data-testid="canary-form"' in page

    response = client.post(
        "/models/m/canary",
        data={"alias": "production", "stable": "1", "canary": "2", "percent": "25"},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "sends 25% of requests to v2" in page
    assert "v1 75%, v2 25%" in page
    registry = app.extensions["dsba"].service.registry
    assert registry.get_aliases("m")["production"] == {"1": 0.75, "2": 0.25}

    page = client.post("/models/m/aliases/production/promote", follow_redirects=True).get_data(
        as_text=True
    )
    assert "m@production now points at version 2" in page
    assert registry.get_aliases("m")["production"] == 2

    client.post(
        "/models/m/canary",
        data={"alias": "production", "stable": "1", "canary": "2", "percent": "10"},
    )
    client.post("/models/m/aliases/production/rollback")
    assert registry.get_aliases("m")["production"] == 1


def test_bad_splits_are_explained_and_change_nothing(app):
    client = app.test_client()
    registry = app.extensions["dsba"].service.registry
    before = registry.get_aliases("m")
    for data in (
        {"alias": "beta", "stable": "1", "canary": "1", "percent": "10"},
        {"alias": "beta", "stable": "1", "canary": "2", "percent": "100"},
        {"alias": "Bad Name", "stable": "1", "canary": "2", "percent": "10"},
    ):
        page = client.post("/models/m/canary", data=data, follow_redirects=True)
        assert page.status_code == 200
        assert "The split was not set." in page.get_data(as_text=True)
    assert registry.get_aliases("m") == before
    page = client.post("/models/m/aliases/beta/promote", follow_redirects=True)
    assert "Nothing changed" in page.get_data(as_text=True)
