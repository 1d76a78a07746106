"""marshmallow schemas of the monitoring API: feedback, the report, the exported log."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from dsba.monitoring.feedback_store import MAX_ITEMS
from dsba.monitoring.labelled import EXPORT_FORMATS

MAX_EXPORT_ROWS = 100_000
STATUSES = ("ok", "warning", "drift", "no_data", "no_reference")
_ID = "01hf7yat00jhbs076n2s2n0000002a"
_TIME = {"type": "string", "example": "2026-11-29T00:00:00Z"}


class FeedbackRequestSchema(Schema):
    """Ground-truth labels for logged predictions, by the ids /api/predict answered."""

    # Raw: each item is checked by dsba, which reports a bad one in `invalid` and goes on.
    feedback = fields.Raw(
        required=True,
        metadata={
            "type": "array",
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "label": {}},
                "required": ["id", "label"],
            },
            "description": f"up to {MAX_ITEMS:,} {{id, label}} objects; a repeated id keeps "
            "its last label",
            "example": [{"id": _ID, "label": "Adelie"}],
        },
    )
    model = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "name, name:version or name@alias of the model that made the "
            "predictions (only its log is searched); without it each id is looked up in the "
            "logs of every model within retention (ids are unique across models)",
            "example": "penguins",
        },
    )


class InvalidItemSchema(Schema):
    """A feedback item that was not taken, and why."""

    index = fields.Integer(required=True, metadata={"description": "its place in the request"})
    id = fields.String(allow_none=True, required=True)
    reason = fields.String(required=True)


class FeedbackResponseSchema(Schema):
    """What became of each item: accepted, unmatched (no logged prediction) or invalid."""

    accepted = fields.Integer(required=True, metadata={"example": 1})
    unmatched = fields.Integer(required=True, metadata={"example": 0})
    invalid = fields.List(fields.Nested(InvalidItemSchema), required=True)


class WindowArgsSchema(Schema):
    """The window [since, until): ISO 8601 times, UTC unless they say otherwise."""

    since = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "start (default: until - 24 h)", **_TIME},
    )
    until = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "end, excluded (default: now)", "example": "2026-11-30T00:00:00Z"},
    )


class PredictionsArgsSchema(WindowArgsSchema):
    """The window, how many rows (oldest first), and the format of the export."""

    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=MAX_EXPORT_ROWS))
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(EXPORT_FORMATS),
        metadata={"description": "json (records), csv or parquet (a file download)"},
    )


class ReportWindowSchema(Schema):
    """The window the report covers."""

    since = fields.String(required=True)
    until = fields.String(required=True)
    rows = fields.Integer(required=True)
    enough_rows = fields.Boolean(metadata={"description": "false: too few rows to judge drift"})


class RatesSchema(Schema):
    """A rate in the reference (training part) and in the window."""

    reference = fields.Float(allow_none=True)
    current = fields.Float(allow_none=True)


class FeatureDriftSchema(Schema):
    """One feature's drift and data quality, most severe first."""

    name = fields.String(required=True)
    kind = fields.String(required=True)
    method = fields.String(metadata={"description": "wasserstein or jensenshannon"})
    score = fields.Float(allow_none=True)
    threshold = fields.Float(allow_none=True, metadata={"description": "for this window size"})
    drifted = fields.Boolean()
    psi = fields.Float(allow_none=True)
    missing_rate = fields.Nested(RatesSchema)
    out_of_range_rate = fields.Float(allow_none=True)
    unseen_rate = fields.Float(allow_none=True)
    importance = fields.Float(allow_none=True)
    histogram = fields.Dict(allow_none=True, metadata={"description": "reference vs current"})
    quality_issues = fields.List(fields.String())


class PredictionDriftSchema(Schema):
    """How far the predictions moved from the test part's: class shares, or values (regression)."""

    method = fields.String(
        metadata={"description": "jensenshannon (classes) or wasserstein_normed (values)"}
    )
    score = fields.Float(allow_none=True)
    threshold = fields.Float(allow_none=True)
    drifted = fields.Boolean()
    psi = fields.Float(allow_none=True)
    classes = fields.List(fields.String())
    reference = fields.List(fields.Float(), metadata={"description": "class shares, test part"})
    current = fields.List(fields.Float(), metadata={"description": "class shares, window"})
    proba_histograms = fields.Dict()
    histogram = fields.Dict(
        allow_none=True, metadata={"description": "regression: predicted values, test vs window"}
    )
    out_of_range_rate = fields.Float(
        allow_none=True, metadata={"description": "regression: values outside the test range"}
    )
    interval_mean_width = fields.Float(
        allow_none=True, metadata={"description": "regression: mean interval width, window"}
    )


class PerformanceSchema(Schema):
    """Test-set figures, live figures from feedback labels, and the CBPE estimate.

    A classifier's figures are accuracy, balanced accuracy, F1 macro, log loss; a regression
    model's are rmse, mae, r2, bias and interval_coverage (test also interval_nominal).
    """

    test = fields.Dict(allow_none=True)
    live = fields.Dict(allow_none=True, metadata={"description": "null without feedback"})
    estimated = fields.Dict(
        allow_none=True,
        metadata={"description": "null without reference, and always for regression (no estimate)"},
    )


class VolumeSchema(Schema):
    """Rows logged in one hour."""

    period = fields.String(required=True)
    rows = fields.Integer(required=True)


class MonitoringReportSchema(Schema):
    """Drift, data quality, volume and performance of a model version over a window."""

    model = fields.String(required=True, metadata={"example": "penguins:1"})
    task = fields.String(
        validate=validate.OneOf(("classification", "regression")),
        metadata={"description": "classification | regression", "example": "classification"},
    )
    window = fields.Nested(ReportWindowSchema, required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(STATUSES),
        metadata={"description": " | ".join(STATUSES), "example": "ok"},
    )
    notes = fields.List(fields.String())
    features = fields.List(fields.Nested(FeatureDriftSchema), required=True)
    prediction_drift = fields.Nested(PredictionDriftSchema, required=True)
    performance = fields.Nested(PerformanceSchema, required=True)
    volume = fields.List(fields.Nested(VolumeSchema), required=True)


class LoggedPredictionSchema(Schema):
    """One logged row; feature:<name> and proba:<class> columns follow the fixed ones.

    A regression model's rows have the value in prediction, its interval in prediction_lower
    and prediction_upper, a number as label, and no proba: columns.
    """

    class Meta:
        unknown = INCLUDE  # the feature:<name> and proba:<class> columns

    id = fields.String(required=True, metadata={"example": _ID})
    ts = fields.String(metadata={"example": "2026-11-29T10:00:00+00:00"})
    model = fields.String()
    version = fields.Integer()
    request_id = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    prediction = fields.Raw(
        allow_none=True,
        metadata={"description": "the predicted label (text) or value (number, regression)"},
    )
    prediction_lower = fields.Float(allow_none=True, metadata={"description": "regression"})
    prediction_upper = fields.Float(allow_none=True, metadata={"description": "regression"})
    label = fields.Raw(
        allow_none=True,
        metadata={"description": "the feedback label (text, or a number for regression)"},
    )


EXPORT_CONTENT = {
    "application/json": {
        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/LoggedPrediction"}}
    },
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
}
