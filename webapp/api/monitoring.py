"""Monitoring: ground-truth feedback, the drift and performance report, the prediction log.

The report and the export are written as JSON here, as /api/predict's answers are: the
report is already plain JSON made by dsba (the schemas document it, the tests check it).
"""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from dsba.data.limits import Limits, check_json_containers
from dsba.errors import TooLarge
from dsba.monitoring.feedback_store import MAX_ITEMS
from webapp.api import fastjson
from webapp.api.fastjson import Blueprint
from webapp.api.monitoring_schemas import (
    EXPORT_CONTENT,
    FeedbackRequestSchema,
    FeedbackResponseSchema,
    LoggedPredictionSchema,
    MonitoringReportSchema,
    PredictionsArgsSchema,
    WindowArgsSchema,
)
from webapp.api.schemas import documents_errors
from webapp.state import state

bp = Blueprint("monitoring", __name__, description="Monitoring: feedback, drift, the log")

# 10,000 items of a 30-character id and a label fit in well under a megabyte.
FEEDBACK_BYTES = 4 * 2**20
_FEEDBACK_LIMITS = Limits(MAX_ITEMS, 1, FEEDBACK_BYTES, "feedback limit")
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _bound_feedback_body() -> None:
    """Refuse a body over the feedback byte limit, or JSON with more objects than items."""
    too_large = TooLarge(f"the request body is larger than the limit of {FEEDBACK_BYTES:,} bytes")
    if (request.content_length or 0) > FEEDBACK_BYTES:
        raise too_large
    request.max_content_length = FEEDBACK_BYTES + 1  # a chunked body is cut past the limit
    body = request.get_data(cache=True)
    if len(body) > FEEDBACK_BYTES:
        raise too_large
    if request.is_json:
        check_json_containers(body, _FEEDBACK_LIMITS)


@bp.before_request
def bound_body() -> None:
    """Bound the feedback body before it is parsed (the GETs take none)."""
    if request.method == "POST":
        _bound_feedback_body()


@bp.route("/feedback")
class Feedback(MethodView):
    """Ground truth for logged predictions."""

    @bp.arguments(FeedbackRequestSchema())
    @bp.response(200, FeedbackResponseSchema)
    @documents_errors(bp, 400, 404, 413)
    def post(self, body):
        """Record true labels by prediction id; unknown ids and classes are counted, not refused.

        With `model`, only that model's log is searched; without it, each id is found in the
        logs of every model within retention (ids are unique across models). An id no log
        holds is `unmatched`; a label the model does not know, or an item without an id or
        label, is listed in `invalid`; a repeated id keeps its last label. A regression
        model's label is the true value, a number (or text that reads as one): any other
        label for one of its predictions refuses the request (400 naming the id), nothing
        stored.
        """
        return state().service.feedback(body.get("model"), body["feedback"])


@bp.route("/models/<ref>/monitoring")
class Monitoring(MethodView):
    """The monitoring report of a version."""

    @bp.arguments(WindowArgsSchema(), location="query")
    @bp.response(200, MonitoringReportSchema)
    @documents_errors(bp, 400, 404)
    def get(self, args, ref):
        """Drift, data quality, volume and performance of name, name:version or name@alias.

        The window is [since, until), the last 24 hours by default. `status` is ok, warning,
        drift, no_data (nothing logged in the window) or no_reference (a version trained
        before reference profiles: retrain it for drift and estimated performance).
        """
        report = state().service.monitoring(ref, args.get("since"), args.get("until"))
        return Response(fastjson.dumps(report), mimetype="application/json")


@bp.route("/models/<ref>/predictions")
class Predictions(MethodView):
    """The prediction log of a version."""

    @bp.arguments(PredictionsArgsSchema(), location="query")
    @bp.response(200, LoggedPredictionSchema(many=True))
    @bp.doc(responses={"200": {"description": "the logged rows", "content": EXPORT_CONTENT}})
    @documents_errors(bp, 400, 404)
    def get(self, args, ref):
        """Export logged predictions of [since, until), oldest first, feedback labels joined.

        format=json answers records; csv and parquet answer a file (Content-Disposition
        names it). At most `limit` rows (1 to 100,000, default 1,000).
        """
        service = state().service
        fmt = args["format"]
        pinned = service.registry.load(ref).ref  # one version, though an alias may be split
        exported = service.predictions(
            pinned, args.get("since"), args.get("until"), limit=args["limit"], format=fmt
        )
        if fmt == "json":
            return Response(fastjson.dumps(exported), mimetype="application/json")
        name = pinned.replace(":", "-")
        return Response(
            exported,
            mimetype=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}-predictions.{fmt}"'},
        )
