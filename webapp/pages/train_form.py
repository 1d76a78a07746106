"""The dataset page's train form: target, settings, and a use box and kind per column."""

from __future__ import annotations

from typing import Any

from flask import request
from wtforms import BooleanField, SelectChoice, SelectField

from dsba.data.column_choices import KIND_CHOICES
from dsba.data.schema import IGNORE
from dsba.data.target import CLASSIFICATION, REGRESSION
from dsba.model.params import BOOSTERS, OBJECTIVES, PARAMS
from webapp.pages.forms import TrainForm

# A hidden input beside the column controls: an unticked box is absent from a post, so
# without it a post that never showed the controls would leave out every column.
CONTROLS_SENT = "column_controls"
TARGET_PROMPT = SelectChoice("", "Choose the column to predict…")


class DatasetTrainForm(TrainForm):
    """TrainForm with use_<i> and kind_<i> for column i of one dataset's profile."""

    profile: dict[str, Any]
    notes: dict[str, dict[str, str]]

    def columns(self) -> list[dict[str, Any]]:
        """Each profiled column with its note and its two fields (use, kind)."""
        return [
            {
                **column,
                "note": self.notes.get(column["name"], {}),
                "use": self[f"use_{index}"],
                "kind_field": self[f"kind_{index}"],
            }
            for index, column in enumerate(self.profile["columns"])
        ]

    def choices(self) -> tuple[list[str], dict[str, str]]:
        """exclude and kinds as the API takes them; the target's row is not a feature."""
        exclude, kinds = [], {}
        if CONTROLS_SENT not in request.form:
            return exclude, kinds  # a post without the column controls keeps every default
        for row in self.columns():
            name, chosen = row["name"], row["kind_field"].data
            if name == self.target.data:
                continue
            changed = chosen != row["kind"]
            if not row["use"].data:
                # An unusable column left unticked and unchanged is dropped with its reason.
                if changed or not row["note"].get("unusable"):
                    exclude.append(name)
            elif changed:
                kinds[name] = chosen
        return exclude, kinds

    def show_error(self, errors: dict[str, Any], message: str) -> bool:
        """Put a training refusal next to the field it names; False if it names none."""
        if "target" in errors:
            self.target.errors = [*self.target.errors, message]
            return True
        column = errors.get("kinds") or errors.get("exclude")
        for row in self.columns():
            if row["name"] == column:
                row["kind_field"].errors = [*row["kind_field"].errors, message]
                return True
        return False

    def advanced_changed(self) -> bool:
        """Whether any advanced setting differs from its default."""
        fields = [
            self.test_size,
            self.seed,
            self.interval,
            self.objective,
            self.booster,
            *self.param_fields(),
        ]
        return any(f.data is not None and f.data != f.default for f in fields)

    def fill(self, target: str, name: str, request: dict[str, Any]) -> None:
        """Start from an earlier training: its target, name, settings and column choices."""
        self.target.data, self.name.data = target, name
        for key in ("test_size", "seed"):
            if request.get(key) is not None:
                self[key].data = request[key]
        for key, value in (request.get("params") or {}).items():
            if key in PARAMS:
                self[f"param_{key}"].data = value
        if (request.get("params") or {}).get("objective") in OBJECTIVES:
            self.objective.data = request["params"]["objective"]
        # Versions from before the linear candidate have no booster: they are tree models.
        if (request.get("params") or {}).get("booster") in BOOSTERS:
            self.booster.data = request["params"]["booster"]
        # A job's request names the task it trained as; a version's metadata says regression
        # (or binary/multiclass, which the automatic choice infers again).
        if request.get("task") in (CLASSIFICATION, REGRESSION):
            self.task.data = request["task"]
        interval = request.get("interval") or (request.get("intervals") or {}).get("coverage")
        if interval is not None:
            self.interval.data = interval
        exclude = set(request.get("exclude") or ())
        kinds = request.get("kinds") or {}
        for row in self.columns():
            name_ = row["name"]
            row["use"].data = name_ not in exclude and kinds.get(name_) != IGNORE
            row["kind_field"].data = kinds.get(name_, row["kind"])


def _kind_choices(inferred: str) -> list[SelectChoice]:
    kinds = KIND_CHOICES if inferred in KIND_CHOICES else (inferred, *KIND_CHOICES)
    labels = {inferred: f"{inferred} (inferred)"}
    return [SelectChoice(kind, labels.get(kind, kind)) for kind in kinds]


def dataset_train_form(profile: dict[str, Any], notes: dict[str, dict[str, str]]):
    """The train form of one dataset: unusable columns cannot be the target, nor ticked."""

    class Form(DatasetTrainForm):
        """Train on this dataset."""

    for index, column in enumerate(profile["columns"]):
        usable = "unusable" not in notes.get(column["name"], {})
        setattr(Form, f"use_{index}", BooleanField(f"Use {column['name']}", default=usable))
        setattr(
            Form,
            f"kind_{index}",
            SelectField(
                f"Kind of {column['name']}",
                choices=_kind_choices(column["kind"]),
                default=column["kind"],
            ),
        )
    form = Form()
    form.profile, form.notes = profile, notes
    targets = [TARGET_PROMPT]
    for column in profile["columns"]:
        why = notes.get(column["name"], {}).get("unusable")
        if why:
            label = f"{column['name']} — cannot be the target ({why})"
            targets.append(SelectChoice(column["name"], label, render_kw={"disabled": True}))
        else:
            targets.append(SelectChoice(column["name"]))
    form.target.choices = targets
    return form
