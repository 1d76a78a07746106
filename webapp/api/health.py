"""Liveness and readiness probes."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from webapp.api.fastjson import Blueprint
from webapp.state import state

bp = Blueprint("health", __name__, description="Probes for the orchestrator")


class StatusSchema(Schema):
    """A probe's answer."""

    status = fields.String(required=True)
    detail = fields.String()


@bp.route("/healthz")
class Health(MethodView):
    """Liveness."""

    @bp.response(200, StatusSchema)
    @bp.doc(security=[])  # probes need no token
    def get(self):
        """Report that the process is alive."""
        return {"status": "ok"}


@bp.route("/readyz")
class Ready(MethodView):
    """Readiness."""

    @bp.response(200, StatusSchema)
    @bp.alt_response(503, schema=StatusSchema)
    @bp.doc(security=[])
    def get(self):
        """Report whether the model store can be read and written."""
        if state().service.registry.is_writable():
            return {"status": "ready"}
        return {"status": "unavailable", "detail": "model store is not writable"}, 503
