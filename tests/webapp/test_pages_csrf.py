"""Every page form needs its CSRF token: a post without one is refused and changes nothing."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from dsba.config import Settings
from dsba.service import LocalService
from webapp import create_app

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture(scope="module")
def csrf_app(tmp_path_factory: pytest.TempPathFactory):
    """An app with CSRF protection on (as in production) and a one-version model."""
    root = tmp_path_factory.mktemp("csrf")
    data = root / "tiny.csv"
    frame = pd.DataFrame({"x": [i % 7 for i in range(60)], "y": ["a", "b", "c"] * 20})
    frame.to_csv(data, index=False)
    settings = Settings(registry_dir=root / "registry", train_threads=1)
    LocalService(settings).train(str(data), target="y", name="tiny", params={"n_estimators": 3})
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True})


def _upload() -> dict:
    return {"file": (io.BytesIO(b"x,y\n1,a\n2,b\n3,a\n4,b\n"), "small.csv")}


def _token(client, url: str) -> str:
    match = TOKEN.search(client.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/train", None),
        ("/models/tiny/aliases", {"alias": "production", "version": "1"}),
        ("/models/tiny/versions/1/delete", {}),
        ("/models/tiny/predict", {"f0": "1"}),
        ("/models/tiny/monitoring", {"id_column": "id", "label_column": "label"}),
    ],
    ids=["upload", "alias", "delete", "predict", "feedback"],
)
def test_a_form_posted_without_its_token_is_refused(csrf_app, url, data):
    client = csrf_app.test_client()
    client.get("/")  # a session, as a browser would have

    response = client.post(url, data=_upload() if data is None else data)

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The CSRF token is missing." in html
    assert "did not come from this site" in html
    assert client.get("/models/tiny").status_code == 200
    assert "@production" not in client.get("/models/tiny").get_data(as_text=True)


def test_a_forged_token_is_refused_and_the_real_one_accepted(csrf_app):
    client = csrf_app.test_client()
    token = _token(client, "/train")

    forged = client.post("/train", data={**_upload(), "csrf_token": token[:-4] + "abcd"})
    assert forged.status_code == 400
    assert "The CSRF token is invalid." in forged.get_data(as_text=True)

    accepted = client.post("/train", data={**_upload(), "csrf_token": token})
    assert accepted.status_code == 302
    assert re.fullmatch(r"/datasets/[0-9a-f]{16}", accepted.headers["Location"])


def test_a_token_from_another_session_is_refused(csrf_app):
    token = _token(csrf_app.test_client(), "/models/tiny")
    other = csrf_app.test_client()
    other.get("/")

    response = other.post(
        "/models/tiny/aliases", data={"alias": "production", "version": "1", "csrf_token": token}
    )

    assert response.status_code == 400
    assert "@production" not in other.get("/models/tiny").get_data(as_text=True)


def test_with_tokens_a_session_post_needs_csrf_and_a_bearer_post_does_not(csrf_app):
    """The CSRF hook guards what a browser sends by itself (the cookie), not bearer calls."""
    from dsba.auth import hash_token

    writer = "dsba_csrf-test-writer-token"
    settings = Settings(
        registry_dir=csrf_app.extensions["dsba"].settings.registry_dir,
        api_tokens=f"wendy:writer:{hash_token(writer)}",
    )
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True})
    # A state-changing view outside the exempt API and without a FlaskForm of its own, so
    # only the before-request CSRF check stands in front of it.
    app.add_url_rule("/test-post", "test_post", lambda: "changed", methods=["POST"])
    browser = app.test_client()
    login = browser.get("/login").get_data(as_text=True)
    signed_in = browser.post(
        "/login",
        data={"name": "wendy", "token": writer, "csrf_token": TOKEN.search(login).group(1)},
    )
    assert signed_in.status_code == 302

    forged = browser.post("/test-post")
    assert forged.status_code == 400
    assert "The CSRF token is missing." in forged.get_data(as_text=True)

    program = app.test_client()
    posted = program.post("/test-post", headers={"Authorization": f"Bearer {writer}"})
    assert (posted.status_code, posted.get_data(as_text=True)) == (200, "changed")
    # A bearer header with a wrong token is no way around anything: off to the login page.
    wrong = program.post("/test-post", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 302 and wrong.headers["Location"].startswith("/login")
