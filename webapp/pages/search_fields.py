"""The train form's search settings: a time budget, trials, and the metric to optimize."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectField
from wtforms.validators import NumberRange, Optional

from dsba.model.search_options import TIME_BUDGET_RANGE, TRIALS_RANGE
from dsba.model.threshold import OPTIMIZE_CHOICES, REGRESSION_OPTIMIZE

QUICK, CUSTOM = "", "custom"
PRESETS = {60: "1 minute", 300: "5 minutes"}
# The metrics' names as the select shows them; the others are their keys with spaces.
METRIC_LABELS = {
    "f1": "F1",
    "log_loss": "log loss",
    "roc_auc": "ROC AUC",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}

MIN_TIME_BUDGET, MAX_TIME_BUDGET = (int(s) for s in TIME_BUDGET_RANGE)
MIN_TRIALS, MAX_TRIALS = TRIALS_RANGE


def _metric_choices(metrics: tuple[str, ...], group: str) -> list[SelectChoice]:
    return [
        SelectChoice(m, METRIC_LABELS.get(m, m.replace("_", " ")), optgroup=group) for m in metrics
    ]


class SearchFields(FlaskForm):
    """Search, custom seconds, trials and the metric of a training run."""

    search = SelectField(
        "Search",
        choices=[
            SelectChoice(QUICK, "Quick: the default settings"),
            *(SelectChoice(str(seconds), label) for seconds, label in PRESETS.items()),
            SelectChoice(CUSTOM, "Custom (seconds)"),
        ],
        default=QUICK,
        description="try many settings and a linear model for this long, scored by "
        "cross-validation, and keep the best",
    )
    search_seconds = IntegerField(
        "Seconds to search",
        validators=[Optional(), NumberRange(MIN_TIME_BUDGET, MAX_TIME_BUDGET)],
        render_kw={"min": MIN_TIME_BUDGET, "max": MAX_TIME_BUDGET, "step": 1},
    )
    trials = IntegerField(
        "Search trials",
        validators=[Optional(), NumberRange(MIN_TRIALS, MAX_TRIALS)],
        description="stop the search after this many candidates (with Quick: search "
        "exactly this many)",
        render_kw={"min": MIN_TRIALS, "max": MAX_TRIALS, "step": 1},
    )
    optimize = SelectField(
        "Optimize for",
        choices=[
            *_metric_choices(OPTIMIZE_CHOICES, "Classification"),
            *_metric_choices(REGRESSION_OPTIMIZE, "Regression"),
        ],
        default="accuracy",
        description="the metric that matters: the search keeps the best by it; on two "
        "classes, balanced accuracy and F1 move the decision threshold",
    )

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' checks, and the seconds a custom search needs (Optional lets none by)."""
        valid = super().validate(extra_validators)
        if self.search.data == CUSTOM and self.search_seconds.data is None:
            message = f"give the seconds to search ({MIN_TIME_BUDGET}–{MAX_TIME_BUDGET})"
            self.search_seconds.errors = [*self.search_seconds.errors, message]
            return False
        return valid

    def search_options(self) -> dict[str, Any]:
        """time_budget, trials and optimize as the API takes them; none for today's defaults."""
        options: dict[str, Any] = {}
        if self.search.data == CUSTOM:
            options["time_budget"] = self.search_seconds.data
        elif self.search.data != QUICK:
            options["time_budget"] = int(self.search.data)
        if self.trials.data is not None:
            options["trials"] = self.trials.data
        if self.optimize.data != "accuracy":
            options["optimize"] = self.optimize.data
        return options

    def fill_search(self, time_budget: Any, trials: Any, optimize: Any) -> None:
        """Choose an earlier run's search and metric again (Retrain, Try again)."""
        if time_budget is not None:
            seconds = int(time_budget)
            self.search.data = str(seconds) if seconds in PRESETS else CUSTOM
            if seconds not in PRESETS:
                self.search_seconds.data = seconds
        if trials is not None:
            self.trials.data = int(trials)
        if optimize in (*OPTIMIZE_CHOICES, *REGRESSION_OPTIMIZE):
            self.optimize.data = optimize
