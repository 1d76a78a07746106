"""An uploaded workbook is told to be saved as CSV, not that its bytes look binary."""

from __future__ import annotations

import io

from workbooks import xlsx_bytes

from dsba.config import Settings
from webapp import create_app


def test_the_api_tells_an_uploaded_workbook_to_be_saved_as_csv(tmp_path):
    settings = Settings(registry_dir=tmp_path / "registry")
    app = create_app({"DSBA_SETTINGS": settings, "TESTING": True})
    files = {"file": (io.BytesIO(xlsx_bytes()), "penguins.xlsx")}
    answer = app.test_client().post("/api/datasets", data=files)
    assert answer.status_code == 400
    assert "save it as CSV" in answer.json["message"]
