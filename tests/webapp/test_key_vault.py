"""DSBA_KEY_VAULT_URL: the app starts from the vault's secrets, and follows its token table.

Azure cannot be reached from the tests: a double of the SDK's SecretClient (get_secret(name)
returning an object with .value, a 404 error for a missing secret) stands in for the vault.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dsba.auth import hash_token
from dsba.config import Settings
from dsba.errors import InvalidInput
from webapp import create_app

VAULT_URL = "https://dsba-test.vault.azure.net"
ALICE, BOB = "dsba_alice-token-in-the-vault", "dsba_bob-token-in-the-vault"


class NotFoundError(Exception):
    """What azure.core raises for a missing secret: an error with status_code 404."""

    status_code = 404


class FakeSecretClient:
    """The vault: secrets by name, and a count of the reads of each."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.reads: dict[str, int] = {}

    def get_secret(self, name: str):
        self.reads[name] = self.reads.get(name, 0) + 1
        if name not in self.secrets:
            raise NotFoundError(name)
        return SimpleNamespace(name=name, value=self.secrets[name])


def table(*entries: tuple[str, str, str]) -> str:
    return ",".join(f"{name}:{role}:{hash_token(token)}" for name, role, token in entries)


def production_app(tmp_path, client, monkeypatch, refresh: str = "300"):
    """An app in production whose environment holds neither SECRET_KEY nor tokens."""
    for name in ("SECRET_KEY", "DSBA_API_TOKENS", "DSBA_METRICS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    settings = Settings.from_env(
        {
            "DSBA_ENV": "production",
            "DSBA_REGISTRY_DIR": str(tmp_path),
            "DSBA_KEY_VAULT_URL": VAULT_URL,
            "DSBA_KEY_VAULT_REFRESH_SECONDS": refresh,
        }
    )
    return create_app({"DSBA_SETTINGS": settings, "DSBA_VAULT_CLIENT": client})


def models(client, token: str) -> int:
    return client.get("/api/models", headers={"Authorization": f"Bearer {token}"}).status_code


def test_production_starts_from_the_vaults_secrets_alone(tmp_path, monkeypatch):
    vault = FakeSecretClient(
        {"dsba-secret-key": "k" * 64, "dsba-api-tokens": table(("alice", "writer", ALICE))}
    )
    app = production_app(tmp_path, vault, monkeypatch)
    assert app.secret_key == "k" * 64
    client = app.test_client()
    assert models(client, ALICE) == 200
    assert models(client, "dsba_not-a-token") == 401
    assert models(client, "") == 401


def test_production_without_the_secret_key_in_the_vault_refuses_to_start(tmp_path, monkeypatch):
    vault = FakeSecretClient({"dsba-api-tokens": table(("alice", "writer", ALICE))})
    with pytest.raises(InvalidInput, match="SECRET_KEY"):
        production_app(tmp_path, vault, monkeypatch)


def test_a_token_revoked_in_the_vault_stops_working_at_the_next_refresh(tmp_path, monkeypatch):
    vault = FakeSecretClient(
        {
            "dsba-secret-key": "k" * 64,
            "dsba-api-tokens": table(("alice", "writer", ALICE), ("bob", "reader", BOB)),
        }
    )
    # A period of 0: every use of the table re-reads it, so one request is one refresh.
    client = production_app(tmp_path, vault, monkeypatch, refresh="0").test_client()
    assert models(client, BOB) == 200
    before = vault.reads["dsba-api-tokens"]
    # azure/token.sh revoke bob
    vault.secrets["dsba-api-tokens"] = table(("alice", "writer", ALICE))
    assert models(client, BOB) == 401
    assert vault.reads["dsba-api-tokens"] > before
    assert models(client, ALICE) == 200
    # Revoking the last token locks the API; it never turns authentication off.
    vault.secrets["dsba-api-tokens"] = ""
    assert models(client, ALICE) == 401
    assert client.get("/api/models").status_code == 401


def test_within_the_period_the_table_is_not_read_again(tmp_path, monkeypatch):
    vault = FakeSecretClient(
        {"dsba-secret-key": "k" * 64, "dsba-api-tokens": table(("bob", "reader", BOB))}
    )
    client = production_app(tmp_path, vault, monkeypatch, refresh="3600").test_client()
    reads = vault.reads["dsba-api-tokens"]
    vault.secrets["dsba-api-tokens"] = table(("alice", "writer", ALICE))
    for _ in range(5):
        assert models(client, BOB) == 200
    assert vault.reads["dsba-api-tokens"] == reads


def test_a_broken_table_or_an_unreachable_vault_keeps_the_last_good_one(tmp_path, monkeypatch):
    vault = FakeSecretClient(
        {"dsba-secret-key": "k" * 64, "dsba-api-tokens": table(("bob", "reader", BOB))}
    )
    client = production_app(tmp_path, vault, monkeypatch, refresh="0").test_client()
    vault.secrets["dsba-api-tokens"] = "bob:reader:not-a-hash"
    assert models(client, BOB) == 200

    def unreachable(name):
        raise ConnectionError("no route to vault")

    vault.get_secret = unreachable
    assert models(client, BOB) == 200


def test_refresh_counts_follow_the_clock(tmp_path):
    from dsba.vault import RefreshingTokenTable

    now = [0.0]
    loads = []

    def load():
        loads.append(now[0])
        return table(("bob", "reader", BOB))

    tokens = RefreshingTokenTable(load, table(("bob", "reader", BOB)), 300, clock=lambda: now[0])
    for second in range(0, 1000, 10):
        now[0] = float(second)
        assert tokens.authenticate(BOB) is not None
    assert loads == [300.0, 600.0, 900.0]


def test_without_the_setting_the_environment_serves_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "e" * 64)
    tokens = table(("alice", "writer", ALICE))
    settings = Settings.from_env(
        {"DSBA_ENV": "production", "DSBA_REGISTRY_DIR": str(tmp_path), "DSBA_API_TOKENS": tokens}
    )
    assert settings.key_vault_url is None
    app = create_app({"DSBA_SETTINGS": settings})
    assert app.secret_key == "e" * 64
    assert models(app.test_client(), ALICE) == 200


def test_the_vault_url_must_be_https_and_the_period_not_negative():
    with pytest.raises(InvalidInput, match="DSBA_KEY_VAULT_URL"):
        Settings.from_env({"DSBA_KEY_VAULT_URL": "http://dsba.vault.azure.net"})
    with pytest.raises(InvalidInput, match="DSBA_KEY_VAULT_REFRESH_SECONDS"):
        Settings.from_env({"DSBA_KEY_VAULT_REFRESH_SECONDS": "-1"})


def test_an_unreadable_vault_fails_the_start_naming_the_role_not_the_secret(tmp_path, monkeypatch):
    class Forbidden(Exception):
        status_code = 403

    class Refusing(FakeSecretClient):
        def get_secret(self, name):
            raise Forbidden("Caller is not authorized; secret value k" * 3)

    with pytest.raises(Exception, match="Key Vault Secrets User") as caught:
        production_app(tmp_path, Refusing({}), monkeypatch)
    assert "secret value" not in str(caught.value)
