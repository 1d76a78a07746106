"""Check every az command the azure/ scripts plan against the real Azure CLI's parser, offline.

Run by `make check-azure` with the Python of a separate venv holding `pip install azure-cli`
(never the project's). Each script runs with --dry-run and no az on its PATH, so it plans
everything as on a fresh subscription; each planned command (`+ az ...`) and read-only
query (`(query) az ...`) then goes through azure-cli in this process, without a login:
the parser refuses an unknown command or option, a bad value or a missing argument
(exit 2, or a "usage error" from a validator) before the command asks for a login
(exit 1, "az login"), which counts as a pass. Placeholders for ids a real run would
read (PLANNED-...) are shaped as resource ids, so the validators check them too.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPS = {
    "AZ_KEY_VAULT": "dsbacheckkv",
    "AZ_LOG_WORKSPACE": "dsba-check-logs",
    "AZ_ALERT_EMAIL": "ops@example.com",
    "AZ_SUBSCRIPTION": "00000000-0000-0000-0000-000000000000",
}
SCENARIOS = [
    ("deploy.sh", [], OPS),
    ("deploy.sh", [], {"AZ_HTTPS_SIDECAR": "0", "DSBA_DASK_SCHEDULER": "tcp://10.0.0.4:8786"}),
    ("update.sh", ["--recreate"], OPS),
    ("deploy-aca.sh", [], OPS),
    ("deploy-aca.sh", ["--canary", "20"], {}),
    ("deploy-aca.sh", ["--promote"], {}),
    ("status.sh", ["--tail", "20"], OPS),
    ("teardown.sh", ["--yes"], {}),
    ("teardown.sh", ["--keep-storage", "--yes"], {}),
    ("token.sh", ["add", "alice", "--role", "writer"], OPS),
    ("token.sh", ["revoke", "alice"], OPS),
]
BASE_ENV = {
    "AZ_ACR_NAME": "dsbacheckacr",
    "AZ_STORAGE_ACCOUNT": "dsbacheckstore",
    "AZ_DNS_LABEL": "dsba-check",
    "AZ_IMAGE_TAG": "v0.0.0",
    "SECRET_KEY": "check-secret-key",
    "DSBA_API_TOKENS": "alice:writer:" + "0" * 64,
}
# The files a plan names stand for private files a real run writes.
FILE_OPTIONS = {"--file", "--yaml", "-f"}


def plans(workdir: Path) -> list[tuple[str, list[str]]]:
    """(script, argv) of every az command the scenarios print, without duplicates."""
    seen, out = set(), []
    path = ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "az").exists())
    for script, args, env in SCENARIOS:
        proc = subprocess.run(
            ["bash", str(ROOT / "azure" / script), "--dry-run", *args],
            env={"PATH": path, "HOME": str(workdir), "TMPDIR": str(workdir), **BASE_ENV, **env},
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=120,
        )
        if proc.returncode != 0:
            sys.exit(f"{script} {' '.join(args)} --dry-run failed:\n{proc.stderr}")
        for line in proc.stdout.splitlines():
            text = line.strip()
            if text.startswith("(query) "):
                text = text[len("(query) ") :]
            elif text.startswith("+ "):
                text = text[2:]
            if not text.startswith("az "):
                continue
            argv = shlex.split(text)[1:]
            if tuple(argv) not in seen:
                seen.add(tuple(argv))
                out.append((script, argv))
    return out


def placeholder_files(argv: list[str], workdir: Path) -> None:
    """Create the files a plan only names (aci.yaml, @env-storage.json, ...)."""
    for i, arg in enumerate(argv):
        named = argv[i + 1] if arg in FILE_OPTIONS and i + 1 < len(argv) else None
        if arg.startswith("@"):
            named = arg[1:]
        if named and not Path(named).is_absolute():
            (workdir / named).write_text("{}\n")


def parse(argv: list[str]) -> tuple[bool, str]:
    """Whether azure-cli's parser accepts argv (offline: a login request means it did)."""
    from azure.cli.core import get_default_cli

    # azure-cli logs its errors through handlers bound to the process's stderr: catch fd 2.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as err:
        os.dup2(err.fileno(), 2)
        try:
            code = get_default_cli().invoke(argv, out_file=io.StringIO())
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        message = err.read()
    # Past the parser: a login request, or (3) a lookup of the planned resource, which a
    # few commands try before they ask for credentials.
    if code in (0, 3) or "az login" in message:
        return True, ""
    return False, message.strip() or f"exit {code}"


def main() -> int:
    """Check every plan; print each failure; exit 1 if any."""
    with tempfile.TemporaryDirectory(prefix="dsba-check-azure-") as tmp:
        workdir = Path(tmp)
        # No login, no telemetry, no update check: a config folder of our own.
        os.environ["AZURE_CONFIG_DIR"] = str(workdir / "azure-config")
        os.environ["AZURE_CORE_COLLECT_TELEMETRY"] = "no"
        os.environ["AZURE_CORE_NO_COLOR"] = "true"
        commands = plans(workdir)
        os.chdir(workdir)
        failures = []
        for script, argv in commands:
            placeholder_files(argv, workdir)
            ok, message = parse(argv)
            print(f"{'ok  ' if ok else 'FAIL'} {script}: az {shlex.join(argv)[:150]}")
            if not ok:
                failures.append(f"{script}: az {shlex.join(argv)}\n    {message}")
    print(f"\n{len(commands) - len(failures)} of {len(commands)} planned az commands parse")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
