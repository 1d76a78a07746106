"""A broken store answers 503 naming what failed, never with a server path or an OS error's
text: files stand where folders should be (the tests run as root, so chmod would not bite)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from security_helpers import RECORD

from dsba.cli import main
from dsba.config import Settings
from webapp import create_app

MODEL = "penguins"


def _folder_instead_of(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _file_instead_of(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.write_text("not a folder")


def _version(root: Path) -> Path:
    return root / "models" / MODEL / "1"


BREAKAGES: dict[str, Callable[[Path], None]] = {
    "model file is a folder": lambda root: _folder_instead_of(_version(root) / "model.ubj"),
    "schema file is missing": lambda root: (_version(root) / "schema.json").unlink(),
    "aliases are a folder": lambda root: (root / "models" / MODEL / "aliases.json").mkdir(),
    "datasets is a file": lambda root: _file_instead_of(root / "datasets"),
    "jobs is a file": lambda root: _file_instead_of(root / "jobs"),
}

CSV = b"x,y\n1,a\n2,b\n3,a\n4,b\n"

# (method, path, request keywords) of calls that read or write what a breakage broke.
CALLS: dict[str, tuple[str, str, dict]] = {
    "predict": ("POST", "/api/predict", {"json": {"model": MODEL, "records": [RECORD]}}),
    "alias": ("PUT", f"/api/models/{MODEL}/aliases/production", {"json": {"version": 1}}),
    "upload": (
        "POST",
        "/api/datasets",
        {"data": {"file": (io.BytesIO(CSV), "x.csv")}, "content_type": "multipart/form-data"},
    ),
    "job": ("GET", f"/api/jobs/{'0' * 32}", {}),
    "model page": ("GET", f"/models/{MODEL}", {}),
}

# (breakage, call, what the answer names)
CASES = [
    ("model file is a folder", "predict", "model penguins:1 is unreadable"),
    ("schema file is missing", "predict", "model penguins:1 is incomplete: schema.json is missing"),
    ("aliases are a folder", "alias", "aliases of 'penguins' is unreadable"),
    ("aliases are a folder", "model page", "aliases of &#39;penguins&#39; is unreadable"),
    ("datasets is a file", "upload", "POST /api/datasets failed: the server could not read"),
    ("jobs is a file", "job", f"GET /api/jobs/{'0' * 32} failed: the server could not read"),
]


@pytest.mark.parametrize(
    ("breakage", "call", "message"), CASES, ids=[f"{b}, {c}" for b, c, _ in CASES]
)
def test_a_broken_store_answers_503_without_a_path(
    tmp_path, trained_registry, capfd, breakage, call, message
):
    root = tmp_path / "registry"
    shutil.copytree(trained_registry, root)
    app = create_app(
        {"DSBA_SETTINGS": Settings(registry_dir=root), "TESTING": True, "WTF_CSRF_ENABLED": False}
    )
    BREAKAGES[breakage](root)
    method, path, kwargs = CALLS[call]
    response = app.test_client().open(path, method=method, **kwargs)
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert message in body
    for leak in (str(tmp_path), "/registry", "Errno", "Traceback"):
        assert leak not in body, (leak, body[:500])
    # The operator still finds the OS error, path and all, in the server log.
    assert str(root) in capfd.readouterr().out


def test_the_local_command_line_shows_the_os_error(tmp_path, trained_registry, penguins_csv):
    """The CLI reads the user's own store: the path helps there, and stays."""
    root = tmp_path / "registry"
    shutil.copytree(trained_registry, root)
    BREAKAGES["model file is a folder"](root)
    data = tmp_path / "rows.csv"
    data.write_bytes(penguins_csv)
    result = CliRunner().invoke(
        main, ["predict", MODEL, str(data)], env={"DSBA_REGISTRY_DIR": str(root)}
    )
    assert result.exit_code == 6, result.output
    assert "error: model penguins:1 is unreadable ([Errno 21] Is a directory:" in result.stderr
    assert str(root / "models" / MODEL / "1" / "model.ubj") in result.stderr
