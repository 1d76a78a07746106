"""Drift scores between binned distributions, with thresholds that know the window's size.

Numbers: Wasserstein distance over the reference's quantile bins (each bin's mass at its
upper bound, values outside the training range at their mean), divided by the reference's
standard deviation. Categories and predicted classes: Jensen-Shannon distance (base 2, 0..1).
PSI is reported beside either. A score only counts as drift above max(configured threshold,
99.5th percentile of the same score between two samples of the reference distribution of the
reference's and the window's sizes): on a small window noise alone reaches 0.1.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

# 1,000 draws estimate the 99.5th percentile: with ten features a clean window still raises
# a false alarm on about one report in twenty, not one in ten.
NULL_DRAWS = 1000
NULL_QUANTILE = 99.5
SEED = 20240613
PSI_FLOOR = 1e-4
# Tail bins outside the training range, in reference spreads (std) beyond min and max.
TAILS = (0.5, 1, 2, 4, 8, 16, 32, 64)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) between share vectors along the last axis."""
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / np.where(m > 0, m, 1.0)), 0.0)
        return terms.sum(axis=-1)

    return np.sqrt(np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0))


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of current against reference shares."""
    r = np.maximum(reference / max(reference.sum(), 1e-300), PSI_FLOOR)
    c = np.maximum(current / max(current.sum(), 1e-300), PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def wasserstein(positions: np.ndarray, p: np.ndarray, q: np.ndarray, scale: float) -> np.ndarray:
    """Wasserstein-1 distance between masses at sorted positions, divided by scale."""
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    gaps = np.diff(positions)
    cdf_gap = np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1))[..., :-1]
    return (cdf_gap * gaps).sum(axis=-1) / scale


def size_bucket(n: int) -> int:
    """n rounded down to a quarter power of two: a smaller n gives a safer (higher) bound."""
    return max(1, int(2 ** (math.floor(math.log2(max(n, 1)) * 4) / 4)))


@lru_cache(maxsize=4096)
def _null_bound(
    method: str, shares: tuple[float, ...], positions: tuple[float, ...], n_ref: int, n: int
) -> float:
    p = np.asarray(shares, dtype=float)
    p = p / p.sum()
    rng = np.random.default_rng(SEED)
    ref = rng.multinomial(max(n_ref, 1), p, size=NULL_DRAWS)
    cur = rng.multinomial(n, p, size=NULL_DRAWS)
    if method == "wasserstein":
        scores = wasserstein(np.asarray(positions), ref.astype(float), cur.astype(float), 1.0)
    else:
        scores = js_distance(ref.astype(float), cur.astype(float))
    return float(np.percentile(scores, NULL_QUANTILE))


def null_bound(
    method: str, shares: list[float], positions: list[float], n_ref: int, n: int, scale: float = 1.0
) -> float:
    """The score two samples of the reference distribution (n_ref and n rows) stay under."""
    if n <= 0 or not len(shares) or sum(shares) <= 0:
        return 0.0
    key = tuple(round(float(s), 9) for s in shares)
    spots = tuple(float(x) for x in positions)
    return _null_bound(method, key, spots, int(n_ref), size_bucket(n)) / scale


def _spread(profile: dict) -> float:
    std = profile.get("std") or 0.0
    return std if std > 0 else (profile["max"] - profile["min"]) or 1.0


def extended_bounds(profile: dict) -> list[float]:
    """Histogram bounds for a window: -inf (missing), tails outside the range, the bins.

    Values outside the training range fall in tail bins 0.5 to 64 spreads wide, so the
    distance knows how far out they are without a second pass over the data.
    """
    s = _spread(profile)
    low = [profile["min"] - m * s for m in reversed(TAILS)]
    high = [profile["max"] + m * s for m in TAILS]
    return [-math.inf, *low, *profile["boundaries"], *high]


def _positions(bounds: list[float]) -> np.ndarray:
    """Where each bucket's mass sits: tail buckets mid-way, bins at their upper bound."""
    tails = len(TAILS)
    low, inner, high = bounds[1 : tails + 1], bounds[tails + 1 : -tails], bounds[-tails:]
    edges_low = [*low, inner[0]]
    below = [low[0], *((a + b) / 2 for a, b in itertools.pairwise(edges_low))]
    edges_high = [inner[-1], *high]
    above = [*((a + b) / 2 for a, b in itertools.pairwise(edges_high)), high[-1]]
    return np.asarray([*below, *inner[1:], *above])


def numeric_drift(profile: dict, counts: list[int], threshold: float) -> dict:
    """Score one numeric feature: its reference profile against the window's bucket counts."""
    bounds = extended_bounds(profile)
    cur = np.asarray(counts, dtype=float)  # far below, tails..., bins..., tails..., overflow
    tails = len(TAILS) + 1
    n = int(cur.sum())
    ref = np.asarray([0.0] * tails + list(profile["shares"]) + [0.0] * tails)
    scale = _spread(profile)
    score = float(wasserstein(_positions(bounds), ref, cur, scale)) if n else 0.0
    inner = profile["boundaries"][1:]
    bound = null_bound("wasserstein", profile["shares"], inner, profile["count"], n)
    limit = max(threshold, bound / scale)
    outside = float(cur[:tails].sum() + cur[-tails:].sum())
    shown_cur = [cur[:tails].sum(), *cur[tails:-tails], cur[-tails:].sum()]
    return {
        "method": "wasserstein_normed",
        "score": score,
        "threshold": limit,
        "drifted": bool(n and score > limit),
        "psi": psi(ref, cur) if n else 0.0,
        "out_of_range_rate": outside / n if n else 0.0,
        "histogram": {
            "bins": ["below", *(f"<={b:.4g}" for b in inner), "above"],
            "reference": [0.0, *profile["shares"], 0.0],
            "current": (np.asarray(shown_cur) / n).tolist() if n else [0.0] * (len(inner) + 2),
        },
    }


def categorical_drift(reference: dict, current: dict, threshold: float) -> dict:
    """Score one categorical feature: top categories, the rest ("other"), unseen values."""
    top = reference["categories"]
    counts = current["counts"]
    cur = np.asarray(
        [counts.get(c, 0) for c in top]
        + [sum(counts.values()) - sum(counts.get(c, 0) for c in top), current["unseen"]],
        dtype=float,
    )
    ref = np.asarray([*reference["shares"], reference["other_share"], 0.0])
    n = int(cur.sum())
    score = float(js_distance(ref, cur)) if n else 0.0
    bound = null_bound("jensenshannon", ref[:-1].tolist(), [], reference["count"], n)
    limit = max(threshold, bound)
    return {
        "method": "jensenshannon",
        "score": score,
        "threshold": limit,
        "drifted": bool(n and score > limit),
        "psi": psi(ref, cur) if n else 0.0,
        "unseen_rate": float(current["unseen"] / n) if n else 0.0,
        "histogram": {
            "bins": [*top, "(other)", "(unseen)"],
            "reference": ref.tolist(),
            "current": (cur / n).tolist() if n else [0.0] * len(cur),
        },
    }


def class_drift(shares: list[float], n_ref: int, counts: list[int], threshold: float) -> dict:
    """Prediction drift: predicted class shares of the window against the test part."""
    ref, cur = np.asarray(shares, dtype=float), np.asarray(counts, dtype=float)
    n = int(cur.sum())
    score = float(js_distance(ref, cur)) if n else 0.0
    limit = max(threshold, null_bound("jensenshannon", shares, [], n_ref, n))
    return {
        "method": "jensenshannon",
        "score": score,
        "threshold": limit,
        "drifted": bool(n and score > limit),
        "psi": psi(ref, cur) if n else 0.0,
        "reference": ref.tolist(),
        "current": (cur / n).tolist() if n else [0.0] * len(cur),
    }
