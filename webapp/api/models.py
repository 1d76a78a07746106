"""The model registry: list, metadata, aliases, deletion."""

from __future__ import annotations

from flask.views import MethodView

from webapp.api.fastjson import Blueprint
from webapp.api.schemas import (
    AliasRequestSchema,
    AliasResponseSchema,
    DeletedSchema,
    MetadataSchema,
    ModelSummarySchema,
    documents_errors,
)
from webapp.state import state

bp = Blueprint("models", __name__, description="Registered models and their versions")


@bp.route("/models")
class Models(MethodView):
    """The model list."""

    @bp.response(200, ModelSummarySchema(many=True))
    def get(self):
        """List models with their latest version, aliases and headline metrics."""
        return state().service.list_models()


@bp.route("/models/<ref>/metadata")
class Metadata(MethodView):
    """One version's metadata."""

    @bp.response(200, MetadataSchema)
    @documents_errors(bp, 400, 404)
    def get(self, ref):
        """Show the metadata of name, name:version or name@alias."""
        return state().service.metadata(ref)


@bp.route("/models/<name>/aliases/<alias>")
class Alias(MethodView):
    """An alias of a model."""

    @bp.arguments(AliasRequestSchema())
    @bp.response(200, AliasResponseSchema)
    @documents_errors(bp, 400, 404)
    def put(self, body, name, alias):
        """Point an alias at a version."""
        return state().service.set_alias(name, alias, body["version"])


@bp.route("/models/<name>/versions/<int:version>")
class Version(MethodView):
    """One version."""

    @bp.response(200, DeletedSchema)
    @documents_errors(bp, 400, 404)
    def delete(self, name, version):
        """Delete a version (its aliases go with it)."""
        return state().service.delete(f"{name}:{version}")
