"""Scoring: our JSON protocol and MLflow's scoring protocol."""

from __future__ import annotations

from typing import Any

import pandas as pd
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from dsba.errors import InvalidInput, TooLarge
from dsba.ingestion import parse_bytes
from webapp.api.schemas import (
    InvocationsResponseSchema,
    PredictRequestSchema,
    PredictResponseSchema,
)
from webapp.state import state

bp = Blueprint("predict", __name__, description="Predictions")


@bp.route("/predict")
class Predict(MethodView):
    """Our scoring endpoint."""

    @bp.arguments(PredictRequestSchema)
    @bp.response(200, PredictResponseSchema)
    def post(self, body):
        """Predict labels and class probabilities for records."""
        result = state().service.predict_records(
            body["model"], body["records"], contributions=body["contributions"]
        )
        return {"model": result.model, "predictions": result.records(), "warnings": result.warnings}


def _frame_from_mlflow(payload: Any) -> pd.DataFrame:
    """Build a frame from MLflow's dataframe_split, dataframe_records or instances/inputs."""
    if not isinstance(payload, dict):
        raise InvalidInput(
            "body must be a JSON object with one of dataframe_split, "
            "dataframe_records, instances or inputs"
        )
    keys = [
        k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in payload
    ]
    if len(keys) != 1:
        raise InvalidInput(
            "give exactly one of dataframe_split, dataframe_records, instances or inputs",
            {"keys": sorted(payload)},
        )
    data = payload[keys[0]]
    if keys[0] == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise InvalidInput("dataframe_split needs 'columns' and 'data' lists")
        columns = data.get("columns")
        rows = data["data"]
        if not all(isinstance(row, list) for row in rows):
            raise InvalidInput("dataframe_split 'data' must be a list of row lists")
        if columns is not None and (
            not isinstance(columns, list) or any(len(row) != len(columns) for row in rows)
        ):
            raise InvalidInput("every dataframe_split row must have one value per column")
        return pd.DataFrame(rows, columns=columns)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput(f"{keys[0]} must be a list of objects (one per row)")
    return pd.DataFrame.from_records(data)


@bp.route("/models/<ref>/invocations")
class Invocations(MethodView):
    """MLflow's scoring protocol, so MLflow clients can call us."""

    @bp.doc(
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    )
    @bp.response(200, InvocationsResponseSchema)
    def post(self, ref):
        """Score rows sent as MLflow's dataframe_split, dataframe_records, instances or CSV."""
        app_state = state()
        content_type = (request.mimetype or "").lower()
        if content_type == "text/csv":
            frame, _ = parse_bytes(
                request.get_data(), filename="data.csv", settings=app_state.settings
            )
        elif content_type == "application/json":
            frame = _frame_from_mlflow(request.get_json(silent=True))
        else:
            raise InvalidInput("Content-Type must be application/json or text/csv")
        if len(frame) > app_state.settings.max_batch_rows:
            raise TooLarge(
                f"{len(frame):,} rows exceed the batch limit of "
                f"{app_state.settings.max_batch_rows:,}"
            )
        if frame.empty:
            raise InvalidInput("no rows to score")
        result = app_state.service.predict_frame(ref, frame)
        return {"predictions": result.labels}
