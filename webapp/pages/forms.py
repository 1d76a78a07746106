"""Flask-WTF forms of the pages; every one carries a CSRF token."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    Field,
    FloatField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from dsba.data.ingestion import FORMATS
from dsba.data.schema import BOOLEAN, CATEGORICAL, DATETIME
from dsba.model.params import BOOSTERS, OBJECTIVES, PARAMS
from dsba.model.threshold import OPTIMIZE_CHOICES
from dsba.registry.refs import NAME_PATTERN
from webapp.pages.formatting import upload_limit
from webapp.state import state

DATA_EXTENSIONS = sorted(suffix.lstrip(".") for suffix in FORMATS)
DATA_ACCEPT = ",".join(sorted(FORMATS))
NAME_RULE = "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
MISSING = ""
MISSING_CHOICE = SelectChoice(MISSING, "(missing)")
AUTOMATIC = ""  # the task choice that lets training infer it from the target
DEFAULT_INTERVAL = 0.9


def check_upload_size(form: FlaskForm, field: Field) -> None:
    """Refuse a file larger than DSBA_MAX_UPLOAD_BYTES, saying what the limit is."""
    upload = field.data
    if not upload or not hasattr(upload, "stream"):
        return
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    if size > state().settings.max_upload_bytes:
        raise ValidationError(f"file too large: the limit is {upload_limit()}")


class UploadForm(FlaskForm):
    """A data file to upload, or a URL to fetch it from."""

    # No FileAllowed: the content decides (CSV named "export.dat" is still CSV); accept
    # only filters the browser's picker.
    file = FileField(
        "Data file",
        validators=[check_upload_size],
        render_kw={"accept": DATA_ACCEPT},
    )
    url = StringField(
        "URL",
        validators=[Optional(), Length(max=2048)],
        render_kw={"placeholder": "https://example.org/data.csv", "inputmode": "url"},
    )

    def validate(self, extra_validators: Any = None) -> bool:
        """Exactly one of a file and a URL."""
        if not super().validate(extra_validators):
            return False
        if bool(self.file.data) == bool(self.url.data):
            self.file.errors = [*self.file.errors, "choose a file or give a URL (one of them)"]
            return False
        return True


class TrainForm(FlaskForm):
    """Target, model name, and the advanced settings of a training run."""

    target = SelectField("Target column", validators=[DataRequired("pick the target column")])
    name = StringField(
        "Model name",
        validators=[DataRequired(), Regexp(NAME_PATTERN, message=NAME_RULE)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    task = SelectField(
        "Task",
        choices=[
            SelectChoice(AUTOMATIC, "Automatic"),
            SelectChoice("classification", "Classification"),
            SelectChoice("regression", "Regression"),
        ],
        default=AUTOMATIC,
        validate_choice=True,
    )
    interval = FloatField(
        "Interval coverage",
        default=DEFAULT_INTERVAL,
        validators=[Optional(), NumberRange(0.5, 0.99)],
        description="regression: share of true values each prediction interval should hold",
        render_kw={"min": 0.5, "max": 0.99, "step": "any"},
    )
    test_size = FloatField(
        "Test size",
        default=0.2,
        validators=[InputRequired(), NumberRange(0.05, 0.5)],
        description="share of rows held out to evaluate the model",
        render_kw={"min": 0.05, "max": 0.5, "step": "any"},
    )
    objective = SelectField(
        "objective",
        choices=[SelectChoice(objective) for objective in OBJECTIVES],
        default=OBJECTIVES[0],
        description="regression only: the loss XGBoost minimises",
    )
    booster = SelectField(
        "booster",
        choices=[
            SelectChoice("gbtree", "gbtree (boosted trees)"),
            SelectChoice("gblinear", "gblinear (linear model)"),
        ],
        default=BOOSTERS[0],
        validate_choice=True,
        description="trees, or a linear model (standardised numbers, one-hot categories); "
        "gblinear uses the rounds, learning rate (its default 0.5) and reg_ parameters "
        "(reg_lambda 0.01) only",
    )
    seed = IntegerField(
        "Random seed",
        default=42,
        validators=[InputRequired(), NumberRange(0, 2**31 - 1)],
        description="same seed, same data, same model",
        render_kw={"min": 0, "step": 1},
    )

    optimize = SelectField(
        "Optimize for",
        choices=[SelectChoice(c, c.replace("_", " ")) for c in OPTIMIZE_CHOICES],
        default="accuracy",
        description="the metric that matters; on two classes, balanced accuracy and F1 "
        "move the decision threshold",
    )

    def params(self) -> dict[str, Any]:
        """The hyperparameters that differ from their defaults."""
        chosen = {}
        for name, spec in PARAMS.items():
            value = self[f"param_{name}"].data
            if value is not None and value != spec.default:
                chosen[name] = value
        if self.objective.data != OBJECTIVES[0]:
            chosen["objective"] = self.objective.data
        if self.booster.data != BOOSTERS[0]:
            chosen["booster"] = self.booster.data
        return chosen

    def task_options(self) -> dict[str, Any]:
        """The task and interval coverage asked for, when they differ from the defaults."""
        options: dict[str, Any] = {}
        if self.task.data != AUTOMATIC:
            options["task"] = self.task.data
        if self.interval.data is not None and self.interval.data != DEFAULT_INTERVAL:
            options["interval"] = self.interval.data
        return options

    def param_fields(self) -> list[Field]:
        """The hyperparameter fields, in the order of dsba.model.params.PARAMS."""
        return [self[f"param_{name}"] for name in PARAMS]


for _name, _spec in PARAMS.items():
    _field_type = IntegerField if _spec.type is int else FloatField
    setattr(
        TrainForm,
        f"param_{_name}",
        _field_type(
            _name,
            default=_spec.default,
            validators=[Optional(), NumberRange(_spec.low, _spec.high)],
            description=f"{_spec.help} ({_spec.low:g}–{_spec.high:g})",
            render_kw={
                "min": _spec.low,
                "max": _spec.high,
                "step": 1 if _spec.type is int else "any",
            },
        ),
    )


class AliasForm(FlaskForm):
    """Point an alias at a version."""

    alias = StringField(
        "Alias",
        validators=[DataRequired("name the alias"), Regexp(NAME_PATTERN, message=NAME_RULE)],
        description="Lowercase letters, digits, - and _, such as production or staging.",
        render_kw={"autocomplete": "off"},
    )
    version = SelectField("Version", coerce=int)


class ThresholdForm(FlaskForm):
    """A new decision threshold for a binary classifier, saved as a new version."""

    threshold = FloatField(
        "Threshold",
        validators=[InputRequired("pick a threshold"), NumberRange(0.01, 0.99)],
        description="the positive class is predicted when its probability is at least this",
    )


class CanaryForm(FlaskForm):
    """Split an alias between a stable and a canary version."""

    # Its own id: the alias form on the same page has a field named alias too.
    alias = StringField(
        "Alias",
        validators=[DataRequired("name the alias"), Regexp(NAME_PATTERN, message=NAME_RULE)],
        id="canary-alias",
        render_kw={"autocomplete": "off"},
    )
    stable = SelectField("Stable version", coerce=int)
    canary = SelectField("Canary version", coerce=int)
    percent = IntegerField(
        "Canary share (%)",
        default=10,
        validators=[InputRequired(), NumberRange(min=1, max=99)],
    )


class CanaryDecisionForm(FlaskForm):
    """Promote or roll back a split alias (the token is the whole form)."""


class DeleteVersionForm(FlaskForm):
    """Confirm the deletion of a version (the token is the whole form)."""


class ConfirmForm(FlaskForm):
    """Confirm removing an alias, a model or a dataset (the token is the whole form)."""


class CancelJobForm(FlaskForm):
    """Cancel a training job (the token is the whole form)."""


class BatchForm(FlaskForm):
    """A file of rows to score."""

    file = FileField(
        "Rows to score",
        validators=[
            FileRequired("choose a file of rows to score"),
            FileAllowed(DATA_EXTENSIONS, "use a CSV, Parquet or JSON-lines file"),
            check_upload_size,
        ],
    )
    explain = BooleanField("Add the three features that pushed each row's prediction most")


class FeedbackForm(FlaskForm):
    """A CSV of prediction ids and their true labels, and which columns hold them."""

    file = FileField(
        "Labels file",
        validators=[
            FileRequired("choose a CSV of prediction ids and labels"),
            FileAllowed(["csv", "txt"], "use a CSV file"),
            check_upload_size,
        ],
    )
    id_column = StringField(
        "Id column",
        default="id",
        validators=[DataRequired("name the column of prediction ids"), Length(max=200)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    label_column = StringField(
        "Label column",
        default="label",
        validators=[DataRequired("name the column of true labels"), Length(max=200)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


def _feature_field(feature: dict[str, Any]) -> Field:
    """The input of one schema feature: a select for categories, a number otherwise."""
    label, kind = feature["name"], feature["kind"]
    if kind == CATEGORICAL:
        categories = [SelectChoice(c) for c in feature.get("categories") or []]
        return SelectField(label, choices=[MISSING_CHOICE, *categories], description="category")
    if kind == BOOLEAN:
        choices = [MISSING_CHOICE, SelectChoice("true"), SelectChoice("false")]
        return SelectField(label, choices=choices, description="true / false")
    if kind == DATETIME:
        return StringField(
            label,
            validators=[Optional()],
            description="date and time",
            render_kw={"type": "datetime-local", "step": 1},
        )
    return FloatField(
        label,
        validators=[Optional()],
        description="number",
        render_kw={"step": "any", "inputmode": "decimal"},
    )


def predict_form(features: list[dict[str, Any]]) -> FlaskForm:
    """Build a form with one field per schema feature, named f0, f1, ... (names may be odd)."""

    class PredictForm(FlaskForm):
        """One row to score."""

        def record(self) -> dict[str, Any]:
            """The row as a {feature: value} record; empty inputs are missing values."""
            row = {}
            for index, feature in enumerate(features):
                value = self[f"f{index}"].data
                row[feature["name"]] = None if value in (MISSING, None) else value
            return row

        def feature_fields(self) -> list[Field]:
            """The inputs in schema order."""
            return [self[f"f{index}"] for index in range(len(features))]

    for index, feature in enumerate(features):
        setattr(PredictForm, f"f{index}", _feature_field(feature))
    return PredictForm()
