"""Fixtures for the deployment tests: the azure/ scripts against a recording fake az."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AZURE = ROOT / "azure"
FAKE_AZ = Path(__file__).with_name("fake_az.py")

# Distinctive values, so that a leak anywhere is found by a plain substring search.
SECRET_KEY = "sk-Zq81-SECRET-KEY-MUST-NOT-LEAK"
API_TOKENS = "sha256:c0ffee-API-TOKEN-HASH-MUST-NOT-LEAK"
STORAGE_KEY = "STORAGE-KEY-MUST-NOT-LEAK+Zm9v=="
WORKSPACE_KEY = "WORKSPACE-KEY-MUST-NOT-LEAK/YmFy=="
CONNECTION_STRING = "InstrumentationKey=CONNECTION-STRING-MUST-NOT-LEAK"
SECRETS = (SECRET_KEY, API_TOKENS, STORAGE_KEY, WORKSPACE_KEY, CONNECTION_STRING)

CONFIG = """\
# test settings, in the format of azure/config.env.example
AZ_LOCATION=westeurope
AZ_RESOURCE_GROUP=dsba-test-rg
AZ_ACR_NAME=dsbatestacr
AZ_STORAGE_ACCOUNT=dsbateststore
AZ_FILE_SHARE=dsba-registry
AZ_IDENTITY=dsba-acr-pull
AZ_CONTAINER_GROUP=dsba-test
AZ_DNS_LABEL=dsba-test-label
AZ_CPU=1.5
AZ_MEMORY_GB=3  # GiB
AZ_IMAGE_NAME=dsba-platform
DSBA_ENV=production
DSBA_MAX_JOBS=3
WEB_CONCURRENCY="2"
"""

MUTATING_VERBS = {
    "create",
    "build",
    "import",
    "delete",
    "update",
    "set",
    "up",
    "deactivate",
    "rest",
    "recover",
}


@dataclass
class Result:
    """One script run: exit code, output, and the az calls it made."""

    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]
    files: list[Path]

    def commands(self) -> list[str]:
        """Each call as the words before its first option, e.g. 'group create'."""
        out = []
        for argv in self.calls:
            words = []
            for arg in argv:
                if arg.startswith("-"):
                    break
                words.append(arg)
            out.append(" ".join(words))
        return out

    def mutations(self) -> list[str]:
        """The calls that would change something in Azure."""
        return [c for c in self.commands() if c.split()[-1] in MUTATING_VERBS]

    def plan(self) -> list[str]:
        """The commands a --dry-run printed as `+ az ...` lines."""
        return [line[2:] for line in self.stdout.splitlines() if line.startswith("+ az ")]

    def printed_yaml(self, marker: str = "aci.yaml") -> dict:
        """The YAML a --dry-run printed between its markers."""
        text = self.stdout.split(f"--- {marker} (secrets masked) ---\n", 1)[1]
        return yaml.safe_load(text.split(f"--- end {marker} ---", 1)[0])

    def applied_yaml(self) -> dict:
        """The last YAML file handed to az with --file, as Azure received it."""
        assert self.files, "no --file was passed to az"
        return yaml.safe_load(self.files[-1].read_text())


class AzureSandbox:
    """A temp dir with a fake `az` first on PATH, its state, a config and the secrets."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        az = self.bin / "az"
        az.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKE_AZ}" "$@"\n')
        az.chmod(0o755)
        self.log = tmp_path / "az-calls.jsonl"
        self.log.touch()
        self.state_file = tmp_path / "az-state.json"
        self.files = tmp_path / "az-files"
        self.scratch = tmp_path / "scratch"
        self.scratch.mkdir()
        self.config = tmp_path / "config.env"
        self.config.write_text(CONFIG)
        self.set_state()
        self.secrets = SECRETS
        self.env = {
            "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.scratch),
            "FAKE_AZ_LOG": str(self.log),
            "FAKE_AZ_STATE": str(self.state_file),
            "FAKE_AZ_FILES": str(self.files),
            "FAKE_AZ_SITE": str(Path(yaml.__file__).parent.parent),
            "SECRET_KEY": SECRET_KEY,
            "DSBA_API_TOKENS": API_TOKENS,
            "AZ_IMAGE_TAG": "v1.2.3",
            "AZ_ROLE_WAIT_SECONDS": "0",
        }

    def set_state(self, **state) -> None:
        """Replace what the fake az believes exists (and how it answers)."""
        state.setdefault("storage_key", STORAGE_KEY)
        state.setdefault("workspace_key", WORKSPACE_KEY)
        state.setdefault("connection_string", CONNECTION_STRING)
        self.state_file.write_text(json.dumps(state))

    def state(self) -> dict:
        """What the fake az believes exists now."""
        return json.loads(self.state_file.read_text())

    def run(self, script: str, *args: str, stdin: str | None = None, **env: str) -> Result:
        """Run azure/<script> with the sandbox's az; return its output and az calls."""
        seen = len(self.log.read_text().splitlines())
        copies_before = set(self.files.iterdir()) if self.files.exists() else set()
        proc = subprocess.run(
            ["bash", str(AZURE / script), "--config", str(self.config), *args],
            env={**self.env, **env},
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.tmp,
        )
        calls = [json.loads(line) for line in self.log.read_text().splitlines()[seen:]]
        copies = sorted(set(self.files.iterdir()) - copies_before) if self.files.exists() else []
        result = Result(proc.returncode, proc.stdout, proc.stderr, calls, copies)
        self.assert_no_leak(result)
        return result

    def assert_no_leak(self, result: Result) -> None:
        """No secret in any az argv or in the output, and no rendered file left behind."""
        for secret in SECRETS:
            for argv in result.calls:
                assert not any(secret in arg for arg in argv), f"secret in argv: {argv}"
            assert secret not in result.stdout
            assert secret not in result.stderr
        assert list(self.scratch.iterdir()) == [], "a temporary file was left behind"
        for argv in result.calls:
            if argv[0].startswith("container") and argv[1] == "create" and "--file" in argv:
                assert not Path(argv[argv.index("--file") + 1]).exists()


@pytest.fixture
def azure(tmp_path: Path) -> AzureSandbox:
    """A sandbox in which the azure/ scripts talk to the recording fake az."""
    return AzureSandbox(tmp_path)
