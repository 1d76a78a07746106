"""Domain errors: what went wrong, in words a user can act on; no HTTP codes here."""

from __future__ import annotations

from typing import Any


class DsbaError(Exception):
    """Base of every error the platform reports to a user."""

    code = "error"

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}

    def to_dict(self) -> dict[str, Any]:
        """Return the error as plain data for JSON or the CLI."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class InvalidInput(DsbaError):
    """The caller's data or arguments cannot be used."""

    code = "invalid_input"


class NotFound(DsbaError):
    """A model, version, dataset or job does not exist."""

    code = "not_found"


class Conflict(DsbaError):
    """The request clashes with the current state (e.g. too many running jobs)."""

    code = "conflict"


class TooLarge(InvalidInput):
    """The input exceeds a configured limit (bytes, rows, columns, categories)."""

    code = "too_large"


class Forbidden(DsbaError):
    """The caller may not do this (a path or URL outside what is allowed)."""

    code = "forbidden"


class StoreError(DsbaError):
    """The store is unreadable or an artifact is corrupt: the operator's problem."""

    code = "store_error"
