"""Canary releases: split an alias between versions by weight, then promote or roll back."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates

from webapp.api.fastjson import Blueprint
from webapp.api.schemas import AliasResponseSchema
from webapp.state import state

bp = Blueprint("canary", __name__, description="Weighted aliases for canary releases")


class SplitRequestSchema(Schema):
    """Weights per version, e.g. {"3": 90, "4": 10}; they are normalised to sum to 1."""

    weights = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,8}$")),
        values=fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=1e6)),
        required=True,
    )

    @validates("weights")
    def not_empty(self, value, **kwargs):
        """At least one version, at most ten."""
        if not 1 <= len(value) <= 10:
            raise ValidationError("give between 1 and 10 versions")


@bp.route("/models/<name>/aliases/<alias>/split")
class Split(MethodView):
    """The weighted split of an alias."""

    @bp.arguments(SplitRequestSchema)
    @bp.response(200, AliasResponseSchema)
    def put(self, body, name, alias):
        """Route name@alias to several versions by weight; each prediction names its version."""
        weights = {int(version): weight for version, weight in body["weights"].items()}
        return state().service.set_alias_split(name, alias, weights)


@bp.route("/models/<name>/aliases/<alias>/promote")
class Promote(MethodView):
    """Promotion."""

    @bp.response(200, AliasResponseSchema)
    def post(self, name, alias):
        """Send all of name@alias to the newest version of its split."""
        return state().service.promote(name, alias)


@bp.route("/models/<name>/aliases/<alias>/rollback")
class Rollback(MethodView):
    """Rollback."""

    @bp.response(200, AliasResponseSchema)
    def post(self, name, alias):
        """Send all of name@alias back to the oldest version of its split."""
        return state().service.rollback(name, alias)
