"""The model registry: list, metadata, versions, comparison, aliases, downloads, deletion."""

from __future__ import annotations

from flask import Response, stream_with_context
from flask.views import MethodView

from dsba.registry.archive import version_archive
from webapp.api.fastjson import Blueprint
from webapp.api.schemas import (
    AliasRequestSchema,
    AliasResponseSchema,
    CompareArgsSchema,
    CompareSchema,
    DeletedSchema,
    MetadataSchema,
    ModelDeletedSchema,
    ModelSummarySchema,
    ThresholdRequestSchema,
    VersionRowSchema,
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


@bp.route("/models/<ref>/threshold")
class Threshold(MethodView):
    """The decision threshold of a binary classifier."""

    @bp.arguments(ThresholdRequestSchema())
    @bp.response(201, MetadataSchema)
    @documents_errors(bp, 400, 404)
    def post(self, body, ref):
        """Save a new version with the same booster and another threshold; return its metadata."""
        return state().service.set_threshold(ref, body["threshold"])


@bp.route("/models/<name>/aliases/<alias>")
class Alias(MethodView):
    """An alias of a model."""

    @bp.arguments(AliasRequestSchema())
    @bp.response(200, AliasResponseSchema)
    @documents_errors(bp, 400, 404)
    def put(self, body, name, alias):
        """Point an alias at a version."""
        return state().service.set_alias(name, alias, body["version"])

    @bp.response(200, AliasResponseSchema)
    @documents_errors(bp, 400, 404)
    def delete(self, name, alias):
        """Remove an alias; the versions it pointed at stay."""
        return state().service.delete_alias(name, alias)


@bp.route("/models/<name>")
class Model(MethodView):
    """A whole model."""

    @bp.response(200, ModelDeletedSchema)
    @documents_errors(bp, 400, 404, 409)
    def delete(self, name):
        """Delete a model: every version and alias (version numbers are never reused)."""
        return state().service.delete_model(name)


@bp.route("/models/<name>/versions")
class Versions(MethodView):
    """A model's versions."""

    @bp.response(200, VersionRowSchema(many=True))
    @documents_errors(bp, 400, 404)
    def get(self, name):
        """List a model's versions, newest first, with aliases and metrics."""
        return state().service.versions(name)


@bp.route("/models/<name>/compare")
class Compare(MethodView):
    """Versions of a model side by side."""

    @bp.arguments(CompareArgsSchema(), location="query")
    @bp.response(200, CompareSchema)
    @documents_errors(bp, 400, 404)
    def get(self, args, name):
        """Compare versions: metrics with the change, parameters, schema, training data."""
        return state().service.compare(name, args["versions"])


@bp.route("/models/<ref>/artifacts")
class Artifacts(MethodView):
    """A version's files."""

    @bp.doc(responses={"200": {"description": "zip", "content": {"application/zip": {}}}})
    @documents_errors(bp, 400, 404)
    def get(self, ref):
        """Download a version's model, schema and metadata as one zip (streamed)."""
        filename, chunks = version_archive(state().service.registry, ref)
        return Response(
            stream_with_context(chunks),
            mimetype="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


@bp.route("/models/<name>/versions/<int:version>")
class Version(MethodView):
    """One version."""

    @bp.response(200, DeletedSchema)
    @documents_errors(bp, 400, 404)
    def delete(self, name, version):
        """Delete a version (its aliases go with it)."""
        return state().service.delete(f"{name}:{version}")
