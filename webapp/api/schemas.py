"""marshmallow schemas for every API request and response."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from dsba.data.target import TASKS
from dsba.jobs.job_store import STATES
from dsba.model.intervals import DEFAULT_INTERVAL
from dsba.model.params import BOOSTERS, OBJECTIVES
from dsba.model.search_options import TIME_BUDGET_RANGE, TRIALS_RANGE
from dsba.model.threshold import OPTIMIZE_CHOICES, REGRESSION_OPTIMIZE
from dsba.registry.refs import NAME_PATTERN

NAME = validate.Regexp(NAME_PATTERN, error="must be 1-64 lowercase letters, digits, '-' or '_'")
# flask-smorest's documented error body ({code, status, message, errors}) for alt_response.
ERRORS = "DEFAULT_ERROR"

MIN_TIME_BUDGET, MAX_TIME_BUDGET = (int(s) for s in TIME_BUDGET_RANGE)
MIN_TRIALS, MAX_TRIALS = TRIALS_RANGE


def documents_errors(bp, *statuses: int):
    """Decorator listing the error statuses a view may answer, all with the error body."""

    def decorate(view):
        documented = view
        for status in statuses:
            documented = bp.alt_response(status, response=ERRORS)(documented)
        # alt_response only adds to the wrapper's API doc; the view takes that doc and leaves
        # the wrappers, each a current_app lookup and a call on every request.
        view._apidoc = documented._apidoc
        return view

    return decorate


class ColumnProfileSchema(Schema):
    """One column of a dataset profile."""

    name = fields.String(required=True)
    kind = fields.String(required=True)
    dtype = fields.String(required=True)
    missing = fields.Integer(required=True)
    distinct = fields.Integer(required=True)
    min = fields.Raw(allow_none=True)
    max = fields.Raw(allow_none=True)
    mean = fields.Float(allow_none=True)
    top = fields.List(fields.Dict())
    unusable = fields.String(
        metadata={"description": "why training will leave this column out (ID-like, ...)"}
    )
    warning = fields.String(
        metadata={"description": "what to watch, e.g. a categorical of high cardinality"}
    )


class DatasetSummarySchema(Schema):
    """A stored dataset without its preview."""

    id = fields.String(required=True)
    filename = fields.String()
    source = fields.String()
    format = fields.String()
    sha256 = fields.String()
    bytes = fields.Integer()
    created_at = fields.String()
    rows = fields.Integer()
    columns = fields.List(fields.Nested(ColumnProfileSchema))


class DatasetSchema(DatasetSummarySchema):
    """A stored dataset, its profile and a preview of its first rows."""

    preview = fields.List(fields.Dict())


class UploadSchema(Schema):
    """Multipart upload of a dataset file."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ScoreFileSchema(Schema):
    """The model to score a file with, and whether to explain each row."""

    model = fields.String(
        required=True,
        validate=validate.Length(max=200),
        metadata={"description": "name, name:version or name@alias", "example": "titanic"},
    )
    explain = fields.Boolean(
        load_default=False,
        metadata={"description": "add each row's three most pushing features and contributions"},
    )


class TrainRequestSchema(Schema):
    """Start training from a stored dataset, a URL, or a path inside the data folder."""

    dataset_id = fields.String(validate=validate.Length(max=64))
    source = fields.String(
        validate=validate.Length(min=1, max=2048),
        metadata={"description": "http(s) URL, or a path relative to the data folder"},
    )
    target = fields.String(required=True, validate=validate.Length(min=1, max=512))
    name = fields.String(required=True, validate=NAME)
    params = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=dict,
        metadata={
            "description": "hyperparameters; booster: "
            + " or ".join(BOOSTERS)
            + " (default gbtree); a regression also takes objective: "
            + ", ".join(OBJECTIVES)
        },
    )
    test_size = fields.Float(load_default=0.2, validate=validate.Range(min=0.05, max=0.5))
    seed = fields.Integer(load_default=42, validate=validate.Range(min=0, max=2**31 - 1))
    # Raw: dsba.data.column_choices checks them against the dataset's columns, naming the column.
    exclude = fields.Raw(
        load_default=None,
        metadata={
            "type": "array",
            "items": {"type": "string"},
            "description": "feature columns to leave out",
            "example": ["island"],
        },
    )
    kinds = fields.Raw(
        load_default=None,
        metadata={
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "enum": ["numeric", "categorical", "datetime", "boolean", "ignore"],
            },
            "description": "a kind per column instead of the inferred one (ignore: leave out)",
            "example": {"year": "categorical"},
        },
    )
    task = fields.String(
        validate=validate.OneOf(TASKS),
        metadata={
            "description": "override the task inferred from the target (a numeric target with "
            "fractions or more than 50 distinct values is a regression); a text target is "
            "never a regression"
        },
    )
    interval = fields.Float(
        load_default=DEFAULT_INTERVAL,
        validate=validate.Range(min=0.5, max=0.99),
        metadata={"description": "regression: nominal coverage of the prediction intervals"},
    )
    optimize = fields.String(
        validate=validate.OneOf(OPTIMIZE_CHOICES + REGRESSION_OPTIMIZE),
        metadata={
            "description": "the metric that matters: for a classifier "
            + ", ".join(OPTIMIZE_CHOICES)
            + " (default accuracy), for a regression "
            + ", ".join(REGRESSION_OPTIMIZE)
            + " (default rmse); a search scores its trials by it, and for a binary target"
            " balanced_accuracy and f1 choose the decision threshold that maximises it"
        },
    )
    # Raw: checked before the job is queued (dsba.model.search_options), a 400 naming the field.
    time_budget = fields.Raw(
        load_default=None,
        metadata={
            "type": "number",
            "minimum": MIN_TIME_BUDGET,
            "maximum": MAX_TIME_BUDGET,
            "description": "search hyperparameters (and the linear candidate) for this many "
            "seconds, scored by cross-validation, then refit the winner; without it (and "
            "trials) training fits today's defaults once",
            "example": 60,
        },
    )
    trials = fields.Raw(
        load_default=None,
        metadata={
            "type": "integer",
            "minimum": MIN_TRIALS,
            "maximum": MAX_TRIALS,
            "description": "search this many candidates (deterministic for a seed); with "
            "time_budget the search stops at whichever comes first",
            "example": 20,
        },
    )

    @validates_schema
    def one_source(self, data, **kwargs):
        """Exactly one of dataset_id and source."""
        if bool(data.get("dataset_id")) == bool(data.get("source")):
            raise ValidationError("give exactly one of dataset_id or source", "dataset_id")


class ProgressSchema(Schema):
    """Boosting rounds done out of the maximum, rows scored, or a search's trials."""

    round = fields.Integer(metadata={"description": "a training job's boosting rounds done"})
    rows = fields.Integer(metadata={"description": "a scoring job's rows scored"})
    trial = fields.Integer(metadata={"description": "a search's trials done"})
    total = fields.Integer(
        allow_none=True,
        metadata={"description": "rounds, rows or trials to do; null: a search by time only"},
    )
    seconds_left = fields.Float(
        allow_none=True, metadata={"description": "a search: seconds left of its time budget"}
    )
    best = fields.Float(
        allow_none=True, metadata={"description": "a search: the best score so far (metric)"}
    )
    metric = fields.String(metadata={"description": "a search: the metric it optimizes"})


class JobSchema(Schema):
    """A training or scoring job's state."""

    id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    progress = fields.Nested(ProgressSchema)
    request = fields.Dict()
    model = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    metrics = fields.Dict(allow_none=True)
    result = fields.Dict(
        allow_none=True,
        metadata={
            "description": "a finished scoring job's digest: rows, labels, unseen values, and "
            "the metrics when the file held the target"
        },
    )
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    cancel_requested = fields.Boolean(
        metadata={"description": "a cancel was asked for; the job ends cancelled shortly"}
    )


class ModelSummarySchema(Schema):
    """A model name with its latest version."""

    name = fields.String(required=True)
    latest_version = fields.Integer(required=True)
    versions = fields.List(fields.Integer())
    aliases = fields.Dict(keys=fields.String(), values=fields.Raw())
    latest = fields.Dict()


class MetadataSchema(Schema):
    """Everything stored about one model version (see dsba.model.pipeline.build_metadata)."""

    name = fields.String(required=True)
    version = fields.Integer(required=True)
    target = fields.String()
    classes = fields.List(fields.Raw())
    task = fields.String(metadata={"description": "binary, multiclass or regression"})
    metrics = fields.Dict(
        metadata={
            "description": "classifier: accuracy, f1, roc_auc...; regression: rmse, mae, r2, "
            "median_absolute_error, mape, interval_coverage, interval_mean_width, baseline_*"
        }
    )
    intervals = fields.Dict(
        metadata={"description": "regression: nominal coverage and conformal method"}
    )
    params = fields.Dict()
    test_size = fields.Float()
    seed = fields.Integer()
    best_iteration = fields.Integer()
    evaluation = fields.Dict(
        metadata={
            "description": "confusion matrix, curves, importances; for a regression: baseline, "
            "predicted_vs_actual, error_by_decile, intervals, importances"
        }
    )
    dataset = fields.Dict(metadata={"description": "source, format, sha256, bytes, rows"})
    features = fields.List(fields.String())
    dropped_columns = fields.List(fields.Dict())
    columns = fields.Dict(
        metadata={"description": "the columns left out (exclude) and kinds chosen (kinds)"}
    )
    library_versions = fields.Dict(keys=fields.String(), values=fields.String())
    training_seconds = fields.Float()
    trained_at = fields.String()
    ran_on = fields.String()
    created_at = fields.String()
    artifacts = fields.Dict(keys=fields.String(), values=fields.String())
    optimize = fields.String(metadata={"description": "the metric training optimized"})
    threshold = fields.Float(
        allow_none=True,
        metadata={"description": "binary: the positive class is predicted when p >= threshold"},
    )
    calibration = fields.Dict(
        allow_none=True, metadata={"description": "binary: the probability map applied, or null"}
    )
    decision = fields.Dict(metadata={"description": "how threshold and calibration were chosen"})
    threshold_from = fields.Dict(metadata={"description": "the version this threshold replaced"})
    metrics_threshold = fields.Float(
        allow_none=True, metadata={"description": "the threshold the test metrics were read at"}
    )
    search = fields.Dict(
        metadata={
            "description": "only after a search: optimize, direction, time_budget, trials, "
            "validation, seconds, trials_done, winner and the leaderboard (best first)"
        }
    )


class ThresholdRequestSchema(Schema):
    """A new decision threshold for a binary classifier."""

    threshold = fields.Float(
        required=True,
        validate=validate.Range(min=0, max=1, min_inclusive=False, max_inclusive=False),
    )


class AliasRequestSchema(Schema):
    """The version an alias should point at."""

    version = fields.Integer(required=True, validate=validate.Range(min=1))


class AliasResponseSchema(Schema):
    """A model's aliases after a change."""

    name = fields.String()
    aliases = fields.Dict(keys=fields.String(), values=fields.Raw())


class DeletedSchema(Schema):
    """What was deleted."""

    deleted = fields.String()


class ModelDeletedSchema(Schema):
    """A deleted model: the versions and aliases that went with it."""

    name = fields.String()
    versions = fields.List(fields.Integer())
    aliases = fields.Dict(keys=fields.String(), values=fields.Raw())


class DatasetDeletedSchema(Schema):
    """A deleted dataset."""

    deleted = fields.String()
    filename = fields.String(allow_none=True)


class VersionRowSchema(Schema):
    """One version of a model with its aliases and scalar metrics."""

    version = fields.Integer(required=True)
    aliases = fields.List(fields.String())
    task = fields.String(allow_none=True)
    target = fields.String(allow_none=True)
    trained_at = fields.String(allow_none=True)
    metrics = fields.Dict(metadata={"description": "whatever the task measured"})
    dataset_sha256 = fields.String(allow_none=True)


class CompareArgsSchema(Schema):
    """Which versions to compare."""

    versions = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "two to ten version numbers, comma-separated", "example": "1,2"},
    )


class CompareSchema(Schema):
    """Versions side by side: metrics with their change, parameters, schema and data."""

    name = fields.String(required=True)
    versions = fields.List(fields.Dict(), metadata={"description": "ascending"})
    metrics = fields.List(
        fields.Dict(),
        metadata={"description": "{metric, label, better, values, changes} per metric"},
    )
    params = fields.List(fields.Dict(), metadata={"description": "{name, values, differs}"})
    features = fields.List(fields.Dict(), metadata={"description": "{name, kinds, differs}"})
    schema_changes = fields.List(
        fields.Dict(), metadata={"description": "{version, against, added, dropped, kind_changed}"}
    )
    data = fields.List(
        fields.Dict(), metadata={"description": "training data: source, sha256, bytes, rows"}
    )


# The longest model reference a body may name; the fast path below checks the same bound.
MAX_REF_LENGTH = 200


class PredictRequestSchema(Schema):
    """Records to score with a model reference."""

    model = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_REF_LENGTH),
        metadata={"description": "name, name:version or name@alias", "example": "penguins"},
    )
    # Raw: the records are checked once, by dsba.model.prediction, which knows the schema.
    records = fields.Raw(
        required=True,
        metadata={
            "type": "array",
            "items": {"type": "object"},
            "minItems": 1,
            "description": "one {column: value} object per row",
        },
    )
    contributions = fields.Boolean(
        load_default=False, metadata={"description": "add per-feature contributions (SHAP)"}
    )

    def load(self, data, *args, **kwargs):
        """Take a plainly valid body as it is; anything else goes through the fields.

        The scoring hot path: marshmallow's field machinery cost more than the rest of a
        single-row request's checks. The result is the one the fields give for such a body.
        """
        if not args and not kwargs and _plain_predict_body(data):
            return {"contributions": False, **data}
        return super().load(data, *args, **kwargs)


_PREDICT_KEYS = frozenset(("model", "records", "contributions"))


def _plain_predict_body(data) -> bool:
    """Whether data is a predict body the fields would load unchanged (bar the default)."""
    return (
        type(data) is dict
        and data.keys() <= _PREDICT_KEYS
        and type(data.get("model")) is str
        and 1 <= len(data["model"]) <= MAX_REF_LENGTH
        and data.get("records") is not None
        and type(data.get("contributions", False)) is bool
    )


class PredictionSchema(Schema):
    """One row's id and label with per-class probabilities, or value with its interval."""

    id = fields.String(
        metadata={
            "description": "the row's prediction id, the key POST /api/feedback takes; only on "
            "rows that went to the prediction log (DSBA_PREDICTION_LOG, _SAMPLE)",
            "example": "01hf7yat00jhbs076n2s2n0000002a",
        }
    )
    label = fields.Raw(metadata={"description": "classifier: the predicted class"})
    probabilities = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "classifier: the probability of each class"},
    )
    value = fields.Float(metadata={"description": "regression: the predicted value"})
    interval = fields.List(
        fields.Float(),
        validate=validate.Length(equal=2),
        metadata={"description": "regression: [lower, upper] at the model's nominal coverage"},
    )
    contributions = fields.Dict(keys=fields.String(), values=fields.Float())
    unseen = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={
            "description": "only on rows with values the model never saw (scored as missing)"
        },
    )
    unreliable = fields.Boolean(
        metadata={"description": "only on rows where most features were unseen or missing: true"}
    )


class PredictResponseSchema(Schema):
    """Predictions in the order of the records."""

    model = fields.String(required=True)
    predictions = fields.List(fields.Nested(PredictionSchema), required=True)
    warnings = fields.List(fields.String(), required=True)


class InvocationsResponseSchema(Schema):
    """MLflow scoring server's answer: one label (a number for a regression) per row."""

    predictions = fields.List(fields.Raw(), required=True)
