"""API tokens and roles: tokens are given to the server only as sha256 hashes."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from dsba.errors import InvalidInput

READER, WRITER = "reader", "writer"
ROLES = (READER, WRITER)
_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9_.@-]{1,64}):(?P<role>reader|writer):(?P<hash>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class User:
    """Who a valid token belongs to and what they may do."""

    name: str
    role: str

    def can(self, role: str) -> bool:
        """Writers may do everything readers may."""
        return self.role == WRITER or role == READER


def hash_token(token: str) -> str:
    """The sha256 hex digest under which a token is configured."""
    return hashlib.sha256(token.encode()).hexdigest()


# The digests of recently presented tokens: a client sends its token on every request, and
# sha256 through OpenSSL costs more than the rest of the check. A hit tells a caller only that
# this exact string was presented before, which trying it as a token tells anyway.
_presented_digest = functools.lru_cache(maxsize=256)(hash_token)


def new_token() -> str:
    """A fresh random token."""
    return "dsba_" + secrets.token_urlsafe(32)


def parse_tokens(raw: str) -> dict[str, User]:
    """Parse DSBA_API_TOKENS: comma-separated name:role:sha256 entries -> {hash: user}."""
    users: dict[str, User] = {}
    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if not match:
            # Name only the position: the entry itself holds a secret's hash.
            raise InvalidInput(
                f"DSBA_API_TOKENS entry {len(users) + 1} must look like name:reader|writer:<sha256>"
            )
        users[match["hash"]] = User(match["name"], match["role"])
    return users


class TokenTable:
    """Checks presented tokens against the configured hashes in constant time."""

    def __init__(self, users: dict[str, User]) -> None:
        self.users = users

    @property
    def enabled(self) -> bool:
        """Auth is on when at least one token is configured."""
        return bool(self.users)

    def authenticate(self, token: str | None) -> User | None:
        """The user whose token this is, or None; compares every hash so timing tells nothing."""
        presented = _presented_digest(token or "")
        found = None
        for digest, user in self.users.items():
            if hmac.compare_digest(presented, digest):
                found = user
        return found

    def user_named(self, name: str, digest_prefix: str) -> User | None:
        """Re-find a session's user (by name and hash prefix) so revoked tokens end sessions."""
        for digest, user in self.users.items():
            if user.name == name and hmac.compare_digest(digest[:16], digest_prefix):
                return user
        return None

    def digest_prefix(self, token: str) -> str:
        """What a session keeps to re-find its user: never the token itself."""
        return hash_token(token)[:16]
