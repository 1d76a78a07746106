"""A stand-in for the Azure CLI: records every call, answers from a state file.

Installed as `az` first on PATH by the tests. Each call appends its argv as one
JSON line to $FAKE_AZ_LOG. $FAKE_AZ_STATE (JSON) says which resources exist:
`show`/`list`/`exists` succeed only for those, `create`/`build`/`import` add to
them and `delete` removes, so two runs of a script see what the first made.
A `--file` passed to `az container create` / `containerapp create` is copied
into $FAKE_AZ_FILES, as Azure would read it before the script deletes it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

QUERY_VERBS = {"show", "list", "exists", "logs"}
CREATE_VERBS = {"create", "build", "import", "up"}
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def split(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Return the command words and the options (a flag alone maps to "")."""
    words: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(argv) and not argv[i].startswith("-"):
        words.append(argv[i])
        i += 1
    while i < len(argv):
        if argv[i].startswith("-"):
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                options[argv[i]] = argv[i + 1]
                i += 2
                continue
            options[argv[i]] = ""
        i += 1
    return words, options


def resource_key(words: list[str], options: dict[str, str]) -> str | None:
    """The state key a command reads, makes or deletes."""
    group = " ".join(words[:-1])
    name = options.get("--name") or options.get("-n") or ""
    if group == "acr repository":
        return f"image:{name}/{options['--image']}"
    if group == "acr" and words[-1] in {"build", "import"}:
        return f"image:{options.get('--registry') or name}/{options['--image']}"
    if group == "storage share-rm":
        return f"share:{options['--storage-account']}/{name}"
    if group == "role assignment":
        return f"role:{options.get('--role')}@{options.get('--scope')}"
    if group in {"container", "containerapp"} and "--file" in options and not name:
        import yaml  # only here: most calls need no YAML, and each call is a process

        name = yaml.safe_load(Path(options["--file"]).read_text())["name"]
    if not name:
        return None
    return f"{group}:{name}"


def answer(query: str, key: str, state: dict) -> str:
    """A plausible value for the --query of a show command."""
    kind, _, name = key.partition(":")
    values = {
        "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/{kind}/{name}",
        "loginServer": f"{name}.azurecr.io",
        "principalId": "11111111-2222-3333-4444-555555555555",
        "[0].value": state.get("storage_key", "fake-storage-key"),
        "[0].id": f"/subscriptions/{SUBSCRIPTION}/roleAssignments/1",
    }
    if query in values:
        return values[query]
    return state.get("answers", {}).get(query, f"fake-{query}")


def main() -> int:
    """Record the call, then behave like az would for the recorded state."""
    argv = sys.argv[1:]
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    state_path = Path(os.environ["FAKE_AZ_STATE"])
    state = json.loads(state_path.read_text())
    resources: list[str] = state.setdefault("resources", [])
    words, options = split(argv)
    verb = words[-1] if words else ""

    if words[:2] == ["account", "show"]:
        return 0 if state.get("logged_in", True) else 1
    if "--file" in options:
        files = Path(os.environ["FAKE_AZ_FILES"])
        files.mkdir(exist_ok=True)
        copy = files / f"{len(list(files.iterdir())):02d}-{Path(options['--file']).name}"
        shutil.copyfile(options["--file"], copy)
    key = resource_key(words, options)

    if verb in QUERY_VERBS:
        if verb == "logs":
            print("\n".join(f"log line {i}" for i in range(100)))
            return 0
        found = key in resources or state.get("everything_exists", False)
        if verb == "exists":
            print(json.dumps({"exists": found}))
            return 0
        if words[:3] == ["storage", "account", "keys"]:
            found = True
        if verb == "list":
            print(answer(options.get("--query", ""), key or "", state) if found else "")
            return 0
        if not found:
            print(f"(ResourceNotFound) {key} was not found.", file=sys.stderr)
            return 3
        if options.get("--output") == "none":
            return 0
        if "--query" in options:
            print(answer(options["--query"], key or "", state))
        else:
            print(json.dumps({"name": key}))
        return 0
    if verb in CREATE_VERBS and key and key not in resources:
        resources.append(key)
    if verb == "delete" and key in resources:
        resources.remove(key)
    state_path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
