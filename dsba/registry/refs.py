"""Model names and references: 'name' (latest), 'name:3' (pinned) or 'name@alias'."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from dsba.errors import InvalidInput

_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"
NAME_PATTERN = rf"^{_NAME}$"
_NAME_RE = re.compile(_NAME)
# Nine digits keeps every version a short, plain path component.
MAX_VERSION = 999_999_999
_REF = re.compile(rf"(?P<name>{_NAME})(?::(?P<version>[1-9][0-9]{{0,8}})|@(?P<alias>{_NAME}))?")
NAME_RULE = "1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"


def validate_name(name: str, what: str = "model name") -> str:
    """Return name if it is a valid model or alias name, else raise InvalidInput."""
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise InvalidInput(f"invalid {what} {name!r}: use {NAME_RULE}")
    return name


def validate_version(version: object) -> int:
    """Return version if it is a positive integer within range, else raise InvalidInput."""
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= MAX_VERSION:
        raise InvalidInput(f"invalid version {version!r}: versions are positive integers")
    return version


def is_version_text(entry: str) -> bool:
    """True if entry spells a version as stored: digits, no leading zero, at most nine."""
    return entry.isascii() and entry.isdigit() and entry[0] != "0" and len(entry) <= 9


@dataclass(frozen=True)
class ModelRef:
    """A model reference: the latest version, a pinned version, or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.version is not None:
            validate_version(self.version)
        if self.alias is not None:
            validate_name(self.alias, "alias")
        if self.version is not None and self.alias is not None:
            raise InvalidInput("a model reference names a version or an alias, not both")

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str) -> ModelRef:
    """Parse 'name', 'name:3' or 'name@alias'; anything else raises InvalidInput."""
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidInput(
            f"invalid model reference {ref!r}: expected 'name', 'name:<version>' or "
            f"'name@<alias>', where names have {NAME_RULE} and versions are positive integers",
            errors={"ref": "invalid model reference"},
        )
    return _parsed(ref)


# References are immutable values and every prediction parses one: remember recent ones.
@functools.lru_cache(maxsize=1024)
def _parsed(ref: str) -> ModelRef:
    match = _REF.fullmatch(ref)
    version = match["version"]
    return ModelRef(match["name"], int(version) if version else None, match["alias"])
