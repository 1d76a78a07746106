"""Scoring: our JSON protocol and MLflow's scoring protocol.

Both views answer with JSON written here rather than dumped through marshmallow: a response
of a thousand rows is the hot path, and its shape is fixed by the code below (the schemas
still document it, and the tests check the answers against them).
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from werkzeug.exceptions import UnsupportedMediaType

from dsba.data.ingestion import parse_bytes
from dsba.data.limits import Limits, check_json_containers
from dsba.errors import InvalidInput, TooLarge
from webapp.api import fastjson
from webapp.api.docs import PREDICT_DESCRIPTION, PREDICT_EXAMPLE
from webapp.api.fastjson import Blueprint
from webapp.api.mlflow import INVOCATIONS_BODY, records_from_mlflow
from webapp.api.schemas import (
    InvocationsResponseSchema,
    PredictRequestSchema,
    PredictResponseSchema,
    documents_errors,
)
from webapp.state import state

bp = Blueprint("predict", __name__, description="Predictions")


@bp.before_request
def bound_body() -> None:
    """Refuse a body over the scoring byte limit, or JSON with more objects than rows."""
    settings = state().settings
    req = request._get_current_object()  # one proxy lookup, not four
    limit = settings.max_predict_bytes
    if (req.content_length or 0) > limit:
        raise _too_large(limit)
    # A chunked body declares no length: werkzeug cuts it one byte past the limit.
    req.max_content_length = limit + 1
    body = req.get_data(cache=True)
    if len(body) > limit:
        raise _too_large(limit)
    if req.is_json:
        check_json_containers(body, Limits.batch(settings))


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the request body is larger than the limit of {limit:,} bytes")


def json_response(payload: Any) -> Response:
    """A 200 JSON response, encoded once without key sorting."""
    return Response(fastjson.dumps(payload), mimetype="application/json")


@bp.route("/predict")
class Predict(MethodView):
    """Our scoring endpoint."""

    # An instance: a class would be instantiated per call.
    @bp.arguments(PredictRequestSchema(), example=PREDICT_EXAMPLE, description=PREDICT_DESCRIPTION)
    @bp.response(200, PredictResponseSchema)
    @documents_errors(bp, 400, 404, 413)
    def post(self, body):
        """Predict labels and class probabilities for records."""
        result = state().service.predict_records(
            body["model"],
            body["records"],
            contributions=body["contributions"],
            source="api",
            request_id=g._get_current_object().get("request_id"),  # one proxy lookup, not two
        )
        return json_response(
            {"model": result.model, "predictions": result.records(), "warnings": result.warnings}
        )


def _check_content_type() -> str:
    """The request's media type, refusing what MLflow's scoring server refuses (415)."""
    mimetype = (request.mimetype or "").lower()
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if mimetype not in ("application/json", "text/csv"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json or text/csv, not {mimetype or 'none'!r}"
        )
    if charset != "utf-8":
        raise UnsupportedMediaType("only UTF-8 bodies are accepted")
    return mimetype


@bp.route("/models/<ref>/invocations")
class Invocations(MethodView):
    """MLflow's scoring protocol, so MLflow clients can call us."""

    @bp.doc(requestBody=INVOCATIONS_BODY)
    @bp.response(200, InvocationsResponseSchema)
    @documents_errors(bp, 400, 404, 413, 415)
    def post(self, ref):
        """Score rows sent as MLflow's dataframe_split, dataframe_records, instances or CSV."""
        app_state = state()
        mimetype = _check_content_type()
        # An unknown model is a 404 before any parsing; CSV rows go to the version looked up.
        pinned, text_columns = app_state.service.text_features(ref)
        if mimetype == "text/csv":
            frame, _ = parse_bytes(
                request.get_data(),
                filename="data.csv",
                text_columns=text_columns,
                limits=Limits.batch(app_state.settings),
            )
            result = app_state.service.predict_frame(
                pinned, frame, source="invocations", request_id=g.get("request_id")
            )
            return json_response({"predictions": result.labels})
        payload = request.get_json(silent=True)
        if payload is None:
            raise InvalidInput("the body is not valid JSON")
        records = records_from_mlflow(payload, app_state.settings.max_batch_rows)
        if not records:
            return json_response({"predictions": []})
        result = app_state.service.predict_records(
            pinned, records, source="invocations", request_id=g.get("request_id")
        )
        return json_response({"predictions": result.labels})
