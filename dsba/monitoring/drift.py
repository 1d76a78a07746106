"""Drift scores between binned distributions, with thresholds that know the window's size.

Numbers: Wasserstein distance over the reference's quantile bins (each bin's mass at its
upper bound, values outside the training range at their mean), divided by the reference's
standard deviation. Categories and predicted classes: Jensen-Shannon distance (base 2, 0..1).
PSI is reported beside either. A score only counts as drift above max(configured threshold,
99th percentile of the same score between two samples of the reference distribution of the
reference's and the window's sizes): on a small window noise alone reaches 0.1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

NULL_DRAWS = 200
NULL_QUANTILE = 99
SEED = 20240613
PSI_FLOOR = 1e-4


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


def null_bound(method: str, shares, positions, n_ref: int, n: int, scale: float = 1.0) -> float:
    """The score two samples of the reference distribution (n_ref and n rows) stay under."""
    if n <= 0 or not len(shares) or sum(shares) <= 0:
        return 0.0
    key = tuple(round(float(s), 9) for s in shares)
    spots = tuple(float(x) for x in positions)
    return _null_bound(method, key, spots, int(n_ref), size_bucket(n)) / scale


def numeric_drift(reference: dict, current: dict, threshold: float) -> dict:
    """Score one numeric feature: reference profile against the window's bin counts."""
    counts = np.asarray(current["counts"], dtype=float)  # below, bins..., above
    n = int(counts.sum())
    ref = np.asarray([0.0, *reference["shares"], 0.0])
    bounds = reference["boundaries"]
    below = current.get("below_mean") or reference["min"]
    above = current.get("above_mean") or reference["max"]
    positions = np.asarray([min(below, reference["min"]), *bounds[1:], max(above, bounds[-1])])
    scale = reference["std"] if reference.get("std") else 1.0
    score = float(wasserstein(positions, ref, counts, scale)) if n else 0.0
    bound = null_bound("wasserstein", reference["shares"], bounds[1:], reference["count"], n)
    limit = max(threshold, bound / scale)
    return {
        "method": "wasserstein_normed",
        "score": score,
        "threshold": limit,
        "drifted": bool(n and score > limit),
        "psi": psi(ref, counts) if n else 0.0,
        "out_of_range_rate": float((counts[0] + counts[-1]) / n) if n else 0.0,
        "histogram": {
            "bins": [f"<{reference['min']:.4g}", *(f"<={b:.4g}" for b in bounds[1:]), "above"],
            "reference": ref.tolist(),
            "current": (counts / n).tolist() if n else [0.0] * len(counts),
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
