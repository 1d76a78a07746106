"""schemathesis fuzzes every operation in /api/openapi.json on the real gunicorn.

No answer may be a 5xx, and every answer must match the schema documented for its status.
(schemathesis' own pytest plugin does not run on pytest 9, so the operations are driven
through its Python API: one Hypothesis run per operation.)
"""

from __future__ import annotations

import palmerpenguins
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from dsba.config import Settings
from dsba.service import LocalService

CHECKS = [not_a_server_error, response_schema_conformance]
EXAMPLES = 30
OPERATIONS = [
    ("GET", "/api/datasets"),
    ("POST", "/api/datasets"),
    ("GET", "/api/datasets/{dataset_id}"),
    ("POST", "/api/train"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{job_id}"),
    ("GET", "/api/models"),
    ("GET", "/api/models/{ref}/metadata"),
    ("PUT", "/api/models/{name}/aliases/{alias}"),
    ("DELETE", "/api/models/{name}/versions/{version}"),
    ("POST", "/api/predict"),
    ("POST", "/api/models/{ref}/invocations"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]


@pytest.fixture(scope="module")
def api_schema(live_server, tmp_path_factory):
    """The served OpenAPI document, once the server's registry holds a penguins model."""
    csv = tmp_path_factory.mktemp("penguins") / "penguins.csv"
    palmerpenguins.load_penguins().to_csv(csv, index=False)
    LocalService(Settings(registry_dir=live_server.registry_dir)).train(
        str(csv), target="species", name="penguins", params={"n_estimators": 10}
    )
    return schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")


def test_every_operation_is_documented_and_fuzzed(api_schema):
    documented = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(op) for op in OPERATIONS])
def test_operation_conforms_to_its_openapi_document(api_schema, live_server, method, path):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        case.call_and_validate(base_url=live_server.url, checks=CHECKS)

    fuzz()
