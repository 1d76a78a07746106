"""A reader may score a file as a job, but its true labels become feedback only for a writer."""

from __future__ import annotations

import time

from security_helpers import bearer, http


def _score(server, token: str, csv: bytes) -> dict:
    session = http()
    session.headers.update(bearer(token))
    answer = session.post(
        f"{server.url}/api/score",
        files={"file": ("penguins.csv", csv)},
        data={"model": "penguins"},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text[:300]
    for _ in range(1200):
        job = session.get(f"{server.url}/api/jobs/{answer.json()['id']}", timeout=10).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(job)


def test_only_a_writer_s_scored_labels_become_feedback(secure_server, tokens, penguins_csv):
    read = _score(secure_server, tokens.reader, penguins_csv)
    assert read["state"] == "succeeded", read.get("error")
    assert read["result"]["evaluated_rows"] == 344 and "feedback" not in read["result"]
    feedback = secure_server.registry_dir / "monitoring" / "penguins" / "feedback"
    assert not feedback.exists() or not any(feedback.rglob("*.parquet"))

    written = _score(secure_server, tokens.writer, penguins_csv)
    assert written["result"]["feedback"]["accepted"] == 344
    assert any(feedback.rglob("*.parquet"))
