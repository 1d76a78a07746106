"""Secrets from Azure Key Vault: the secret key at start, the token table re-read as it changes.

Used when DSBA_KEY_VAULT_URL is set. The Azure SDK (`pip install '.[azure]'`) is imported only
then; tests hand in a client double with the SDK's `get_secret(name).value` shape instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from dsba.auth import TokenTable, parse_tokens
from dsba.errors import DsbaError, InvalidInput

log = logging.getLogger("dsba.vault")

# The vault's secret names (letters, digits and dashes only) for the variables they replace;
# azure/deploy.sh and azure/token.sh write them under the same names.
SECRET_NAMES = {
    "SECRET_KEY": "dsba-secret-key",
    "DSBA_API_TOKENS": "dsba-api-tokens",
    "DSBA_METRICS_TOKEN": "dsba-metrics-token",
}


def secret_client(url: str) -> Any:
    """An Azure SDK SecretClient for the vault, signed in as the container's managed identity."""
    try:
        from azure.identity import DefaultAzureCredential
        from azure.keyvault.secrets import SecretClient
    except ImportError as exc:
        raise InvalidInput(
            "DSBA_KEY_VAULT_URL needs the azure extra: pip install 'dsba-platform[azure]'"
        ) from exc
    # With a user-assigned identity, AZURE_CLIENT_ID (set by the deployment) picks it.
    client_id = os.environ.get("AZURE_CLIENT_ID")
    credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    return SecretClient(vault_url=url, credential=credential)


class KeyVault:
    """Reads the dsba secrets of one vault; counts its reads of the token table."""

    def __init__(self, url: str, client: Any = None) -> None:
        self.url = url
        self.client = client if client is not None else secret_client(url)
        self.token_reads = 0
        self._env_tokens: str | None = None
        # The environment environ() built: what the app started with.
        self.environ_read: dict[str, str] = {}

    def read(self, variable: str) -> str | None:
        """The vault's value for a variable, or None when the vault has no such secret."""
        try:
            value = self.client.get_secret(SECRET_NAMES[variable]).value
        except Exception as exc:
            # azure.core's ResourceNotFoundError carries the HTTP status; anything else
            # (no access, no network) is a failure the caller must see.
            if getattr(exc, "status_code", None) == 404:
                return None
            raise DsbaError(
                f"Key Vault {self.url}: cannot read {SECRET_NAMES[variable]} "
                f"({type(exc).__name__}); does the identity hold Key Vault Secrets User?"
            ) from exc
        return value.strip() if value else None

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment with every secret the vault holds in place of the variable's value."""
        env = dict(os.environ if base is None else base)
        self._env_tokens = env.get("DSBA_API_TOKENS")
        for variable in SECRET_NAMES:
            value = self.read(variable)
            if variable == "DSBA_API_TOKENS":
                self.token_reads += 1
            if value is not None:
                env[variable] = value
        self.environ_read = env
        return env

    def tokens(self) -> str | None:
        """The token table as stored in the vault (the environment's when the vault has none)."""
        self.token_reads += 1
        value = self.read("DSBA_API_TOKENS")
        return value if value is not None else self._env_tokens


class RefreshingTokenTable(TokenTable):
    """A token table re-read from its source at most once per period, on use.

    A worker re-reads it on the first request after the period ends, so a token added or
    revoked in the vault works, or stops working, within one period. A failed read, or a
    table that does not parse, keeps the last good one (and is tried again next period).
    Auth, once on, stays on: revoking every token locks the API, never opens it.
    """

    def __init__(
        self,
        load: Callable[[], str | None],
        initial: str,
        period: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._period = period
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at = clock()
        super().__init__(parse_tokens(initial))
        self._required = bool(self._users)

    @property
    def users(self):
        """The current {sha256: user} table, re-read first when the period is over."""
        if self._clock() - self._loaded_at >= self._period:
            self._refresh()
        return self._users

    @users.setter
    def users(self, value) -> None:
        self._users = value

    @property
    def enabled(self) -> bool:
        """On when it started with tokens, even once all are revoked."""
        return self._required or bool(self.users)

    def _refresh(self) -> None:
        # One thread re-reads; the others meanwhile use the table they have.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._loaded_at = self._clock()
            raw = self._load()
            self._users = parse_tokens(raw or "")
        except Exception as exc:
            # The message names the entry's position at most, never its contents.
            log.warning("token table not refreshed, keeping the last one: %s", exc)
        finally:
            self._lock.release()
