"""A stand-in for the Azure CLI: records every call, answers from a state file.

Installed as `az` first on PATH by the tests. Each call appends its argv as one
JSON line to $FAKE_AZ_LOG. $FAKE_AZ_STATE (JSON) says which resources exist:
`show`/`list`/`exists` succeed only for those, `create`/`build`/`import` add to
them and `delete` removes, so two runs of a script see what the first made.
A file handed to az (`--file F`, `--yaml F`, `--body @F`) is copied into
$FAKE_AZ_FILES, as Azure would read it before the script deletes it.

It runs as `python -S` (a test makes hundreds of calls, and startup is most
of their time), so it sticks to light standard modules and finds PyYAML, when
it needs it, in $FAKE_AZ_SITE.
"""

from __future__ import annotations

import json
import os
import sys

QUERY_VERBS = {"show", "list", "exists", "logs", "show-deleted", "get-shared-keys"}
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
    name = options.get("--name") or options.get("-n") or options.get("--workspace-name") or ""
    if words[-1:] == ["show-deleted"]:
        return f"{group} deleted:{name}"
    if group == "acr repository":
        return f"image:{name}/{options['--image']}"
    if group == "acr" and words[-1] in {"build", "import"}:
        return f"image:{options.get('--registry') or name}/{options['--image']}"
    if group == "storage share-rm":
        return f"share:{options['--storage-account']}/{name}"
    if group == "role assignment":
        return f"role:{options.get('--role')}@{options.get('--scope')}"
    if group == "containerapp env storage":
        return f"{group}:{options['--storage-name']}"
    if group == "containerapp revision" and "--revision" in options:
        return f"revision:{options['--revision']}"
    if words == ["rest"] and "/storages/" in options.get("--url", ""):
        storage = options["--url"].split("/storages/")[1].split("?")[0]
        return f"containerapp env storage:{storage}"
    if group == "container" and "--file" in options and not name:
        name = load_yaml(options["--file"])["name"]
    if not name:
        return None
    return f"{group}:{name}"


def load_yaml(path: str) -> dict:
    """A YAML file the script handed over (imported here: most calls need no YAML)."""
    sys.path.append(os.environ["FAKE_AZ_SITE"])
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def handed_files(options: dict[str, str]) -> list[str]:
    """The files this call reads: --file F, --yaml F, --body @F."""
    files = [options.get("--file"), options.get("--yaml")]
    body = options.get("--body", "")
    files.append(body[1:] if body.startswith("@") else None)
    return [f for f in files if f]


def answer(query: str, key: str, state: dict) -> str:
    """A plausible value for the --query of a show command."""
    kind, _, name = key.partition(":")
    values = {
        "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/{kind}/{name}",
        "loginServer": f"{name}.azurecr.io",
        "principalId": "11111111-2222-3333-4444-555555555555",
        "[0].value": state.get("storage_key", "fake-storage-key"),
        "[0].id": f"/subscriptions/{SUBSCRIPTION}/roleAssignments/1",
        "properties.vaultUri": f"https://{name}.vault.azure.net/",
        "primarySharedKey": state.get("workspace_key", "fake-workspace-key"),
        "properties.ConnectionString": state.get("connection_string", "fake-connection"),
        "value": state.get("secrets", {}).get(name, ""),
    }
    if query in values:
        return values[query]
    return state.get("answers", {}).get(query, f"fake-{query}")


def main() -> int:
    """Record the call, then behave like az would for the recorded state."""
    argv = sys.argv[1:]
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    state_path = os.environ["FAKE_AZ_STATE"]
    with open(state_path, encoding="utf-8") as handle:
        state = json.load(handle)
    resources: list[str] = state.setdefault("resources", [])
    words, options = split(argv)
    verb = words[-1] if words else ""

    if words == ["ad", "signed-in-user", "show"]:
        print("99999999-8888-7777-6666-555555555555")
        return 0
    if words[:2] == ["account", "show"]:
        if not state.get("logged_in", True):
            print("Please run 'az login' to setup account.", file=sys.stderr)
            return 1
        if options.get("--query") == "id":
            print(SUBSCRIPTION)
        return 0
    for handed in handed_files(options):
        files = os.environ["FAKE_AZ_FILES"]
        os.makedirs(files, exist_ok=True)
        copy = os.path.join(files, f"{len(os.listdir(files)):02d}-{os.path.basename(handed)}")
        with open(handed, "rb") as source, open(copy, "wb") as target:
            target.write(source.read())
    key = resource_key(words, options)

    if words[:3] == ["containerapp", "ingress", "traffic"] or words[-2:] == ["revision", "list"]:
        if verb in QUERY_VERBS:
            print(state.get("answers", {}).get(options.get("--query", ""), ""))
            return 0
    if verb in QUERY_VERBS:
        if verb == "logs":
            print("\n".join(f"log line {i}" for i in range(100)))
            return 0
        found = key in resources or state.get("everything_exists", False)
        if verb == "exists":
            print(json.dumps({"exists": found}))
            return 0
        if words[:3] == ["storage", "account", "keys"] or verb == "get-shared-keys":
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
    if (verb in CREATE_VERBS or words == ["rest"]) and key and key not in resources:
        resources.append(key)
    if words[0] == "containerapp" and verb in {"create", "update"} and "--yaml" in options:
        suffix = load_yaml(options["--yaml"])["properties"]["template"]["revisionSuffix"]
        resources.append(f"revision:{options['--name']}--{suffix}")
    if verb == "delete" and key in resources:
        resources.remove(key)
    if words[:2] == ["keyvault", "secret"] and verb == "set":
        # What Azure keeps is the file's contents: a later `show --query value` answers it.
        with open(options["--file"], encoding="utf-8") as handle:
            state.setdefault("secrets", {})[options["--name"]] = handle.read()
        if key not in resources:
            resources.append(key)
    if words[:2] == ["keyvault", "recover"]:
        resources.append(f"keyvault:{options['--name']}")
    with open(state_path, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
