"""Training sources through POST /api/train: no URL reaches the server's own network, no path
leaves the data folder, and every refusal is a 4xx that says why."""

from __future__ import annotations

import pytest
from security_helpers import bearer, csrf_token, http, signed_in, wait_for_job

# (source, expected status, words the message must contain); {port} is the file server's.
REFUSED = {
    "loopback address": ("http://127.0.0.1:{port}/x.csv", 403, "resolves to 127.0.0.1"),
    "cloud metadata": ("http://169.254.169.254/", 403, "link-local"),
    "metadata path": ("http://169.254.169.254/latest/meta-data/", 403, "169.254.169.254"),
    "file scheme": ("file:///etc/passwd", 403, "only http and https URLs can be read"),
    "ftp scheme": ("ftp://localhost:{port}/x.csv", 403, "only http and https URLs can be read"),
    "allowed host redirecting to loopback": (
        "http://localhost:{port}/to-loopback",
        403,
        "'127.0.0.1' resolves to 127.0.0.1",
    ),
    "allowed host redirecting to metadata": (
        "http://localhost:{port}/to-metadata",
        403,
        "'169.254.169.254' resolves to 169.254.169.254",
    ),
    "allowed host redirecting to a file": (
        "http://localhost:{port}/to-file",
        403,
        "only http and https URLs can be read",
    ),
    "IPv6 loopback": ("http://[::1]:{port}/x.csv", 403, "loopback"),
    "IPv4-mapped IPv6 loopback": ("http://[::ffff:127.0.0.1]:{port}/x.csv", 403, "127.0.0.1"),
    "decimal IPv4 loopback": ("http://2130706433:{port}/x.csv", 403, "127.0.0.1"),
    "unspecified address": ("http://0.0.0.0:{port}/x.csv", 403, "0.0.0.0"),
    "private network": ("http://10.0.0.1/x.csv", 403, "private"),
    "multicast": ("http://224.0.0.1/x.csv", 403, "224.0.0.1"),
    "credentials in URL": (
        "http://user:secret@localhost:{port}/x.csv",
        403,
        "credentials in them are refused",
    ),
    "relative path out of the data folder": (
        "../../etc/passwd",
        403,
        "is outside the data folder",
    ),
    "absolute path": ("/etc/passwd", 403, "is outside the data folder"),
    "symlink out of the data folder": ("escape.csv", 403, "is outside the data folder"),
    "symlink to /etc/passwd": ("passwd.csv", 403, "is outside the data folder"),
    "missing file": ("nothing-here.csv", 400, "no file 'nothing-here.csv' in the data folder"),
}


def train(server, token: str, source: str, name: str = "fromsource") -> object:
    """POST /api/train with a source and the penguins target."""
    body = {"source": source, "target": "species", "name": name, "params": {"n_estimators": 10}}
    return http().post(f"{server.url}/api/train", json=body, headers=bearer(token), timeout=30)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_source_is_refused_with_a_clear_4xx(secure_server, tokens, file_server, case):
    source, status, words = REFUSED[case]
    jobs_before = http().get(f"{secure_server.url}/api/jobs", headers=bearer(tokens.reader)).json()

    response = train(secure_server, tokens.writer, source.format(port=file_server.port))

    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert words in body["message"], body["message"]
    # No server path leaks into the answer, whatever the case.
    assert str(secure_server.data_dir) not in response.text
    assert str(secure_server.outside) not in response.text
    jobs_after = http().get(f"{secure_server.url}/api/jobs", headers=bearer(tokens.reader)).json()
    assert len(jobs_after) == len(jobs_before)


def test_no_refused_source_ever_reached_the_file_server(secure_server, tokens, file_server):
    for case in sorted(REFUSED):
        train(secure_server, tokens.writer, REFUSED[case][0].format(port=file_server.port))
    # Only the allow-listed name was ever used to connect; 127.0.0.1 never was.
    hosts = {host for host, _ in file_server.requests}
    assert hosts <= {f"localhost:{file_server.port}"}, hosts
    assert ("127.0.0.1:" + str(file_server.port), "/x.csv") not in file_server.requests


def test_allow_listed_host_and_data_folder_files_do_train(secure_server, tokens, file_server):
    from_url = train(secure_server, tokens.writer, file_server.url("localhost", "/x.csv"), "url")
    from_path = train(secure_server, tokens.writer, "penguins.csv", "path")
    assert from_url.status_code == 202, from_url.text
    assert from_path.status_code == 202, from_path.text
    for response, model in [(from_url, "url:1"), (from_path, "path:1")]:
        job = wait_for_job(secure_server.url, response.json()["id"], tokens.reader)
        assert job["state"] == "succeeded", job
        assert job["model"] == model
    assert (f"localhost:{file_server.port}", "/x.csv") in file_server.requests


def test_upload_page_refuses_a_loopback_url_with_the_reason(secure_server, tokens, file_server):
    session = signed_in(secure_server.url, "wanda", tokens.writer)
    page = session.get(f"{secure_server.url}/train", timeout=10)
    response = session.post(
        f"{secure_server.url}/train",
        data={"csrf_token": csrf_token(page.text), "url": file_server.url("127.0.0.1", "/x.csv")},
        timeout=30,
    )
    assert response.status_code == 400
    assert "text/html" in response.headers["Content-Type"]
    assert "resolves to 127.0.0.1, a loopback" in response.text
