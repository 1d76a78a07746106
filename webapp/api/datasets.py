"""Upload datasets and read their profiles."""

from __future__ import annotations

from flask.views import MethodView

from dsba.data.ingestion import read_upload
from dsba.data.profile import column_notes
from webapp.api.fastjson import Blueprint
from webapp.api.schemas import (
    DatasetDeletedSchema,
    DatasetSchema,
    DatasetSummarySchema,
    UploadSchema,
    documents_errors,
)
from webapp.state import state

bp = Blueprint("datasets", __name__, description="Uploaded datasets and their profiles")


def _with_notes(profile: dict) -> dict:
    """The profile with each column's note: unusable (and why) or a warning."""
    notes = column_notes(profile, state().settings.max_categories)
    columns = [{**column, **notes.get(column["name"], {})} for column in profile["columns"]]
    return {**profile, "columns": columns}


@bp.route("/datasets")
class Datasets(MethodView):
    """The dataset collection."""

    @bp.response(200, DatasetSummarySchema(many=True))
    def get(self):
        """List stored datasets, newest first."""
        return state().datasets.list()

    @bp.arguments(UploadSchema(), location="files")
    @bp.response(201, DatasetSchema)
    @documents_errors(bp, 400, 413)
    def post(self, files):
        """Upload a CSV, Parquet or JSON-lines file and get its profile."""
        upload = files["file"]
        app_state = state()
        dataset = read_upload(upload.stream, upload.filename, app_state.settings)
        return _with_notes(app_state.datasets.save(dataset, upload.filename))


@bp.route("/datasets/<dataset_id>")
class DatasetItem(MethodView):
    """One dataset."""

    @bp.response(200, DatasetSchema)
    @documents_errors(bp, 404)
    def get(self, dataset_id):
        """Show a dataset's profile and preview, with the columns training would drop."""
        return _with_notes(state().datasets.get(dataset_id))

    @bp.response(200, DatasetDeletedSchema)
    @documents_errors(bp, 404, 409)
    def delete(self, dataset_id):
        """Delete a dataset (refused while a queued or running job trains on it)."""
        return state().service.delete_dataset(dataset_id)
