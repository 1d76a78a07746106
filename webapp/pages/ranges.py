"""What training saw of each feature, from the version's reference profile, for the predict form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

TOP_CATEGORIES = 3


def number(value: float) -> str:
    """A value as a person would type it: 4050, 44.45, 0.1235, 12,345."""
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _median(profile: dict[str, Any]) -> float | None:
    """The upper bound of the quantile bin where half the training values are reached."""
    total = 0.0
    for upper, part in zip(profile["boundaries"][1:], profile["shares"], strict=True):
        total += part
        if total >= 0.5:
            return upper
    return None


def hint(profile: dict[str, Any] | None) -> str:
    """One feature's training range and median, or its most common values, in words."""
    if not profile or not profile.get("count"):
        return ""
    kind = profile["kind"]
    if kind == "categorical":
        top = zip(profile["categories"], profile["shares"], strict=True)
        common = ", ".join(f"{c} ({share:.0%})" for c, share in list(top)[:TOP_CATEGORIES])
        return f"most common in training: {common}"
    if kind == "boolean":
        return f"true in {profile['mean']:.0%} of training rows"
    if kind == "datetime":
        low, high = (
            datetime.fromtimestamp(profile[k], UTC).date().isoformat() for k in ("min", "max")
        )
        return f"training range {low} – {high}"
    median = _median(profile)
    middle = f", median {number(median)}" if median is not None else ""
    return f"training range {number(profile['min'])} – {number(profile['max'])}{middle}"


def feature_hints(features: list[dict], reference: dict[str, Any] | None) -> list[str]:
    """The hint of each schema feature, in schema order (empty without a reference profile)."""
    profiles = {p["name"]: p for p in (reference or {}).get("features", [])}
    return [hint(profiles.get(f["name"])) for f in features]
