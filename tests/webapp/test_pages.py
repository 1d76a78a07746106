"""The analyst's pages through Flask's test client: forms, redirects, errors, escaping."""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import palmerpenguins
import pandas as pd
import pytest

from dsba.config import Settings
from dsba.jobs.job_store import JobStore, utc_now
from dsba.service import LocalService
from webapp import create_app

UPLOAD_LIMIT = 256 * 1024
BATCH_LIMIT = 400
PENGUIN_FEATURES = 7


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Small limits, so the limit paths are cheap to reach."""
    root = tmp_path_factory.mktemp("pages")
    return Settings(
        registry_dir=root / "registry",
        max_upload_bytes=UPLOAD_LIMIT,
        max_batch_rows=BATCH_LIMIT,
        url_allow_hosts=("127.0.0.1",),
        train_threads=1,
    )


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """palmerpenguins, 344 rows."""
    return palmerpenguins.load_penguins()


@pytest.fixture(scope="module")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> Path:
    """palmerpenguins as a CSV file."""
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    penguins.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def pages_app(settings: Settings, penguins_csv: Path):
    """An app over a store holding penguins v1 and v2 (trained in this process)."""
    service = LocalService(settings)
    for _ in range(2):
        service.train(
            str(penguins_csv), target="species", name="penguins", params={"n_estimators": 10}
        )
    return create_app({"DSBA_SETTINGS": settings, "TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(pages_app):
    """A test client of the module's app."""
    return pages_app.test_client()


def _csv_upload(frame: pd.DataFrame, filename: str = "data.csv") -> dict:
    return {"file": (io.BytesIO(frame.to_csv(index=False).encode()), filename)}


def _upload(client, frame: pd.DataFrame, filename: str = "data.csv") -> str:
    response = client.post("/train", data=_csv_upload(frame, filename))
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def _text(response) -> str:
    return response.get_data(as_text=True)


def _chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html)
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def test_home_without_models_invites_training(tmp_path):
    app = create_app(
        {"DSBA_SETTINGS": Settings(registry_dir=tmp_path / "empty"), "WTF_CSRF_ENABLED": False}
    )
    html = _text(app.test_client().get("/"))

    assert "No models yet." in html
    assert 'href="/train"' in html
    assert "Authentication is off (local mode)" in html


def test_home_lists_models_with_metrics(client):
    html = _text(client.get("/"))

    assert 'href="/models/penguins"' in html
    assert "v2" in html and "of 2" in html
    assert re.search(r"<strong>[01]\.\d{3}</strong>\s*<span[^>]*>\(0\.4\d\d\)", html)


def test_upload_leads_to_a_profile_with_a_prefilled_name(client, penguins):
    location = _upload(client, penguins, "Palmer Penguins.csv")
    assert re.fullmatch(r"/datasets/[0-9a-f]{16}", location)

    html = _text(client.get(location))

    assert "344</strong> rows" in html
    assert html.count('data-testid="column-kind"') == 8
    assert 'value="palmer-penguins"' in html
    assert '<option value="species">species</option>' in html
    assert 'name="param_n_estimators"' in html and 'value="300"' in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "choose a file or give a URL"),
        ({"file": (io.BytesIO(b"MZ\x90\x00\x03\x00"), "data.exe")}, "file looks binary"),
        ({"file": (io.BytesIO(b"a,a\n1,2\n3,4\n"), "dup.csv")}, "duplicate column names: a"),
        ({"file": (io.BytesIO(b"x" * (UPLOAD_LIMIT + 1)), "big.csv")}, "the limit is 256 KB"),
    ],
    ids=["nothing", "extension", "unparseable", "too-large"],
)
def test_a_bad_upload_is_explained(client, data, message):
    response = client.post("/train", data=data)

    assert response.status_code == 400
    assert message in _text(response)


@pytest.fixture
def csv_server(penguins: pd.DataFrame) -> Iterator[str]:
    """A loopback HTTP server answering every GET with 200 penguins as CSV; yields its URL."""
    body = penguins.head(200).to_csv(index=False).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_url_is_fetched_and_profiled(client, csv_server):
    response = client.post("/train", data={"url": f"{csv_server}/data/from-the-web.csv"})

    assert response.status_code == 302
    html = _text(client.get(response.headers["Location"]))
    assert "from-the-web.csv" in html and "200</strong> rows" in html


def test_a_file_in_the_data_folder_is_read(client, settings, penguins):
    settings.data_root.mkdir(parents=True, exist_ok=True)
    penguins.head(50).to_csv(settings.data_root / "first-fifty.csv", index=False)

    response = client.post("/train", data={"url": "first-fifty.csv"})

    assert response.status_code == 302
    assert "50</strong> rows" in _text(client.get(response.headers["Location"]))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.1.2.3/data.csv", "resolves to 10.1.2.3, a loopback, private"),
        ("ftp://example.org/data.csv", "only http and https URLs can be read"),
        ("../outside.csv", "is outside the data folder"),
    ],
)
def test_a_url_the_policy_refuses_is_explained(client, url, message):
    response = client.post("/train", data={"url": url})

    assert response.status_code == 400
    assert "The data could not be read:" in _text(response) and message in _text(response)


def test_a_request_over_the_size_limit_gets_the_413_page(client):
    # Raw bytes: the server must refuse them on their length alone, before parsing.
    response = client.post(
        "/train",
        data=b"x" * (UPLOAD_LIMIT + 2 * 1024 * 1024),
        content_type="multipart/form-data; boundary=limit",
    )

    assert response.status_code == 413
    html = _text(response)
    assert "File too large" in html and "The limit is 256 KB per upload." in html
    assert 'data-testid="error-message"' in html


def test_what_a_user_typed_is_escaped(client):
    frame = pd.DataFrame({"<script>alert(1)</script>": ["<b>x</b>", "y"] * 5, "t": [0, 1] * 5})
    html = _text(client.get(_upload(client, frame, "<i>evil</i>.csv")))

    assert "<script>alert(1)" not in html and "<b>x</b>" not in html and "<i>evil" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_the_train_form_checks_the_name_and_the_target(client, settings, penguins):
    location = _upload(client, penguins)
    jobs_before = len(JobStore(settings).list())

    response = client.post(location, data={"target": "", "name": "Bad Name", "test_size": "0.2"})

    assert response.status_code == 400
    html = _text(response)
    assert "pick the target column" in html
    assert "use 1-64 lowercase letters" in html
    assert len(JobStore(settings).list()) == jobs_before


def test_a_single_class_target_is_refused_before_any_job(client, settings):
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "label": ["same"] * 4})
    location = _upload(client, frame, "one-class.csv")
    jobs_before = len(JobStore(settings).list())

    response = client.post(
        location, data={"target": "label", "name": "one-class", "test_size": "0.2", "seed": "1"}
    )

    assert response.status_code == 400
    # Next to the target select, not in a banner above the page.
    html = _text(response)
    target_error = re.search(r'id="target"[^>]*>.*?invalid-feedback">([^<]*)<', html, re.S)
    assert target_error and "target column &#39;label&#39; has a single class" in target_error[1]
    assert len(JobStore(settings).list()) == jobs_before


def test_the_train_form_starts_a_job_and_redirects_to_it(client, settings, penguins):
    small = penguins.iloc[::3]  # a third of the rows, every species: a quick model
    location = _upload(client, small, "first-rows.csv")

    response = client.post(
        location,
        data={
            "target": "species",
            "name": "from-form",
            "test_size": "0.25",
            "seed": "7",
            "param_n_estimators": "15",
            "param_max_depth": "3",
            "param_learning_rate": "0.1",
        },
    )

    assert response.status_code == 302
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    job = JobStore(settings).get(job_id)
    assert job["request"]["params"] == {"n_estimators": 15, "max_depth": 3}
    assert job["request"]["test_size"] == 0.25 and job["request"]["seed"] == 7
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = JobStore(settings).get(job_id)
    assert job["state"] == "succeeded", job
    html = _text(client.get(f"/jobs/{job_id}"))
    assert 'href="/models/from-form?version=1"' in html


def _job(settings: Settings, **fields) -> str:
    store = JobStore(settings)
    job = store.create({"dataset_id": "0123456789abcdef", "name": "m", "target": "y"})
    job.update(fields)
    store.write(job)
    return job["id"]


def test_a_failed_job_shows_its_error_and_a_way_back(client, settings):
    job_id = _job(settings, state="failed", error="target <b>y</b> has a single class")
    html = _text(client.get(f"/jobs/{job_id}"))

    assert "Training failed" in html
    assert "target &lt;b&gt;y&lt;/b&gt; has a single class" in html
    assert f'href="/datasets/0123456789abcdef?job={job_id}" data-testid="try-again"' in html


def test_a_running_job_shows_progress_and_where_to_poll(client, settings):
    job_id = _job(
        settings,
        state="running",
        pid=os.getpid(),
        # Another container's job: judged alive by its fresh heartbeat.
        host="another-container",
        heartbeat_at=utc_now(),
        progress={"round": 12, "total": 48},
    )
    html = _text(client.get(f"/jobs/{job_id}"))

    assert f'data-job-url="/api/jobs/{job_id}"' in html
    assert "pct-25" in html and "Boosting round 12 of at most 48" in html
    assert "js/job.js" in html


def test_the_model_page_shows_metrics_plots_schema_and_versions(client):
    html = _text(client.get("/models/penguins"))

    assert 'data-testid="model-version">v2<' in html
    assert re.search(r'data-testid="metric-baseline">0\.4\d\d<', html)
    assert len(re.findall(r'<td class="heat-\d+', html)) == 9
    charts = _chart_data(html)
    assert [c["label"] for c in charts["roc"]] == ["Adelie", "Chinstrap", "Gentoo"]
    assert len(charts["precision_recall"]) == 3
    assert len(charts["importance"]) == PENGUIN_FEATURES
    assert charts["learning_curve"]["metric"] == "mlogloss"
    assert len(charts["learning_curve"]["validation"]) == 10
    assert html.count('<tr class="table-primary" data-version="2">') == 1
    assert 'data-version="1"' in html
    assert "Biscoe, Dream, Torgersen" in html
    assert "chart.umd.min.js" in html and "js/model-charts.js" in html


def test_a_version_is_chosen_with_the_query_string(client):
    assert 'data-testid="model-version">v1<' in _text(client.get("/models/penguins?version=1"))
    for url in ("/models/penguins?version=x", "/models/penguins?version=99", "/models/Bad"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert 'data-testid="error-message"' in _text(response)


def test_an_alias_is_set_and_a_bad_one_refused(client):
    response = client.post("/models/penguins/aliases", data={"alias": "staging", "version": "1"})
    assert response.status_code == 302
    html = _text(client.get(response.headers["Location"]))
    assert "penguins@staging now points at version 1" in html
    assert re.search(r'data-version="1">.*?@staging', html, re.S)

    response = client.post("/models/penguins/aliases", data={"alias": "Not OK", "version": "1"})
    # Refused next to the field, with what was typed kept, not in a banner far above.
    assert response.status_code == 400
    html = _text(response)
    assert re.search(r'id="alias"[^>]*is-invalid|is-invalid[^>]*id="alias"', html)
    assert re.search(r'data-testid="alias-error">use 1-64 lowercase', html)
    assert 'value="Not OK"' in html and "placeholder" not in html.split('id="alias"')[1][:200]


def test_a_version_is_deleted_after_confirmation(client, settings, penguins_csv):
    LocalService(settings).train(
        str(penguins_csv), target="species", name="doomed", params={"n_estimators": 5}
    )
    confirm = _text(client.get("/models/doomed/versions/1/delete"))
    assert "Delete doomed v1?" in confirm
    assert 'action="/models/doomed/versions/1/delete"' in confirm

    response = client.post("/models/doomed/versions/1/delete")

    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Deleted doomed version 1." in _text(client.get("/"))
    assert client.get("/models/doomed").status_code == 404


def test_the_predict_form_follows_the_schema(client):
    html = _text(client.get("/models/penguins/predict?version=1"))

    assert re.search(r'<select[^>]*data-feature="island"', html)
    for island in ("Biscoe", "Dream", "Torgersen"):
        assert f'<option value="{island}">{island}</option>' in html
    assert re.search(r'<input[^>]*data-feature="bill_length_mm"[^>]*type="number"', html)
    assert html.count("data-feature=") == PENGUIN_FEATURES


def _row(**values) -> dict:
    names = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    names += ["sex", "year"]
    return {f"f{i}": str(values.get(name, "")) for i, name in enumerate(names)}


def test_one_row_is_predicted_and_explained(client):
    row = _row(
        island="Torgersen",
        bill_length_mm=39.1,
        bill_depth_mm=18.7,
        flipper_length_mm=181,
        body_mass_g=3750,
        sex="male",
        year=2007,
    )
    html = _text(client.post("/models/penguins/predict", data=row))

    assert re.search(r'data-testid="predicted-label">Adelie<', html)
    shares = [float(p) for p in re.findall(r'data-testid="probability">([\d.]+)%<', html)]
    assert len(shares) == 3 and abs(sum(shares) - 100) < 0.5
    contributions = re.findall(r'data-testid="contribution">([+-][\d.]+)<', html)
    assert 1 <= len(contributions) <= 8
    assert "= 181<" in html  # the input as typed, not 181.0


def test_a_row_of_missing_values_still_gets_a_prediction(client):
    html = _text(client.post("/models/penguins/predict", data=_row()))

    assert re.search(r'data-testid="predicted-label">(Adelie|Chinstrap|Gentoo)<', html)


def test_a_file_is_scored_and_sent_back(client, penguins):
    response = client.post(
        "/models/penguins/predict/batch?version=1", data=_csv_upload(penguins, "in.csv")
    )

    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]))
    assert "344 rows scored by penguins" in page
    response = client.get(f"{response.headers['Location']}/download")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="penguins-v1-scored.csv"'
    )
    scored = pd.read_csv(io.BytesIO(response.data))
    assert len(scored) == len(penguins)
    assert list(scored.columns) == [
        "id",  # the prediction id of each row, which went to the prediction log
        *penguins.columns,
        "prediction",
        "probability_Adelie",
        "probability_Chinstrap",
        "probability_Gentoo",
        "unseen_features",
        "warnings",
    ]
    assert scored["year"].tolist() == penguins["year"].tolist()


def test_boolean_and_datetime_features_get_their_own_inputs(client, settings, tmp_path):
    rows = 60
    frame = pd.DataFrame(
        {
            "seen": [
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:30:00" for i in range(rows)
            ],
            "member": ["yes", "no", "no"] * (rows // 3),
            "spend": [float(i % 17) for i in range(rows)],
            "tier": ["gold", "silver", "bronze", "silver"] * (rows // 4),
        }
    )
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    LocalService(settings).train(
        str(tmp_path / "mixed.csv"), target="tier", name="mixed", params={"n_estimators": 5}
    )

    html = _text(client.get("/models/mixed/predict"))
    assert re.search(r'<input[^>]*data-feature="seen"[^>]*type="datetime-local"', html)
    assert re.search(r'<select[^>]*data-feature="member"', html)
    assert '<option value="true">true</option>' in html

    row = {"f0": "2024-03-04T10:30", "f1": "true", "f2": "4.5"}
    answer = _text(client.post("/models/mixed/predict", data=row))
    assert re.search(r'data-testid="predicted-label">(gold|silver|bronze)<', answer)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"island": ["Biscoe"]}), "missing feature columns: bill_length_mm"),
        # Beyond a request's rows the file goes to a job, but its first rows are checked first.
        (pd.DataFrame({"x": range(BATCH_LIMIT + 1)}), "missing feature columns: island, bill"),
    ],
    ids=["missing-column", "too-many-rows-no-job"],
)
def test_a_bad_file_to_score_is_explained(client, frame, message):
    response = client.post("/models/penguins/predict/batch", data=_csv_upload(frame))

    assert response.status_code == 302
    assert response.headers["Location"] == "/models/penguins/predict?version=2"
    assert message in _text(client.get(response.headers["Location"]))


def test_an_unknown_page_and_a_crash_get_friendly_pages(tmp_path):
    app = create_app({"DSBA_SETTINGS": Settings(registry_dir=tmp_path / "r")})

    @app.get("/boom")
    def boom():
        raise RuntimeError(f"secret detail in {tmp_path}")

    client = app.test_client()
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "We could not find that page" in _text(missing)
    crash = client.get("/boom")
    assert crash.status_code == 500
    assert "Something went wrong on our side" in _text(crash)
    assert "secret detail" not in _text(crash) and str(tmp_path) not in _text(crash)
