"""Split-conformal prediction intervals: a constant width, or conformalised quantile regression.

Both are calibrated on a slice of the training part that neither booster saw. The validation
part is not reused for it: early stopping picks the round where its error is lowest, so its
residuals are optimistic and intervals calibrated on them would under-cover, most on the
small data sets where intervals matter most. The test part stays untouched, so the coverage
recorded on it is an honest estimate.

- "absolute": score |y - f(x)|, interval f(x) ± q. Same width everywhere.
- "cqr" (Romano et al., 2019): a second booster (reg:quantileerror) predicts the alpha/2 and
  1 - alpha/2 quantiles; score max(lo - y, y - hi), interval [lo - q, hi + q]. Wider where
  the noise is larger.
q is the ceil((n + 1)(1 - alpha))-th smallest calibration score, which gives coverage of at
least the nominal level for exchangeable rows. The method kept is the narrower one at valid
coverage when each half of the calibration slice calibrates the other (two-fold), so the
choice is not judged on the rows that set q.
"""

from __future__ import annotations

import json
import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from dsba.errors import InvalidInput
from dsba.model import dense_predict
from dsba.registry.model_registry import LoadedModel

DEFAULT_INTERVAL = 0.9
QUANTILE_ARTIFACT = "interval-quantiles.json"


def check_interval(nominal: float) -> float:
    """Refuse a nominal coverage outside 0.5..0.99."""
    if isinstance(nominal, bool) or not isinstance(nominal, int | float):
        raise InvalidInput(f"interval must be a number, got {nominal!r}", {"interval": "invalid"})
    if not 0.5 <= nominal <= 0.99:
        raise InvalidInput(
            f"interval must be between 0.5 and 0.99 (the nominal coverage), got {nominal}",
            {"interval": "invalid"},
        )
    return float(nominal)


def conformal_quantile(scores: np.ndarray, nominal: float) -> float:
    """The ceil((n+1)·nominal)-th smallest score (the largest when n is too small for it)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.ceil((len(ordered) + 1) * nominal)
    return float(ordered[min(rank, len(ordered)) - 1])


def _scores(method: str, y: np.ndarray, predicted: np.ndarray, quantiles: np.ndarray | None):
    if method == "absolute":
        return np.abs(y - predicted)
    return np.maximum(quantiles[:, 0] - y, y - quantiles[:, 1])


def _bounds(method, predicted, quantiles, q) -> np.ndarray:
    if method == "absolute":
        return np.column_stack([predicted - q, predicted + q])
    low = np.minimum(quantiles[:, 0], quantiles[:, 1]) - q
    high = np.maximum(quantiles[:, 0], quantiles[:, 1]) + q
    # The value shown always lies inside its own interval (this only ever widens it).
    return np.column_stack([np.minimum(low, predicted), np.maximum(high, predicted)])


def coverage_and_width(y: np.ndarray, bounds: np.ndarray) -> dict[str, float]:
    """Share of y inside its bounds and the mean width."""
    inside = (y >= bounds[:, 0]) & (y <= bounds[:, 1])
    return {
        "coverage": round(float(inside.mean()), 6) if len(y) else None,
        "mean_width": round(float((bounds[:, 1] - bounds[:, 0]).mean()), 6) if len(y) else None,
    }


@dataclass
class IntervalModel:
    """How a version turns predicted values into intervals."""

    method: str
    nominal: float
    q: float
    quantile_booster: xgb.Booster | None = None
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: int | None = None

    def quantiles(self, x: Any, threads: int | None = None) -> np.ndarray | None:
        """The quantile booster's (n, 2) predictions, or None for a constant width."""
        if self.quantile_booster is None:
            return None
        if threads is not None and threads != self.threads:
            # As for the main booster: reconfigure once per model and worker, not per call.
            self.quantile_booster.set_param({"nthread": threads})
            self.threads = threads
        return np.asarray(dense_predict.predict(self.quantile_booster, x), dtype=np.float64)

    def bounds(self, x: Any, predicted: np.ndarray, threads: int | None = None) -> np.ndarray:
        """[lower, upper] per row for the model matrix x and its predicted values."""
        predicted = np.asarray(predicted, dtype=np.float64)
        return _bounds(self.method, predicted, self.quantiles(x, threads), self.q)

    def metadata(self) -> dict[str, Any]:
        """What metadata["intervals"] records: JSON numbers, the booster is an artifact."""
        return {
            "coverage": self.nominal,
            "method": self.method,
            "q": self.q,
            "artifact": QUANTILE_ARTIFACT if self.quantile_booster is not None else None,
        }

    def artifacts(self) -> dict[str, dict[str, Any]]:
        """The quantile booster in XGBoost's own JSON format, stored with the version."""
        if self.quantile_booster is None:
            return {}
        return {QUANTILE_ARTIFACT: json.loads(bytes(self.quantile_booster.save_raw("json")))}


def _two_fold(method, y, predicted, quantiles, nominal, seed) -> dict[str, float]:
    """Coverage and width when each half of the calibration rows calibrates the other."""
    order = np.random.default_rng(seed).permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    inside, width = [], []
    for fit, held in (halves, halves[::-1]):
        q = conformal_quantile(
            _scores(method, y[fit], predicted[fit], None if quantiles is None else quantiles[fit]),
            nominal,
        )
        bounds = _bounds(method, predicted[held], None if quantiles is None else quantiles[held], q)
        inside.append((y[held] >= bounds[:, 0]) & (y[held] <= bounds[:, 1]))
        width.append(bounds[:, 1] - bounds[:, 0])
    return {
        "coverage": float(np.concatenate(inside).mean()),
        "mean_width": float(np.concatenate(width).mean()),
    }


def calibrate(
    y: np.ndarray,
    predicted: np.ndarray,
    quantiles: np.ndarray | None,
    quantile_booster: xgb.Booster | None,
    nominal: float,
    seed: int,
) -> IntervalModel:
    """Calibrate both methods on held-out rows and keep the narrower one at valid coverage."""
    methods = {"absolute": None}
    if quantile_booster is not None:
        methods["cqr"] = quantiles
    judged = {
        method: _two_fold(method, y, predicted, q_pred, nominal, seed)
        for method, q_pred in methods.items()
    }
    # Valid: within two binomial standard errors of the nominal coverage on half the rows.
    slack = 2 * math.sqrt(nominal * (1 - nominal) / max(len(y) // 2, 1))
    valid = [m for m, r in judged.items() if r["coverage"] >= nominal - slack] or ["absolute"]
    method = min(valid, key=lambda m: (judged[m]["mean_width"], m != "absolute"))
    candidates = {
        m: {
            "q": conformal_quantile(_scores(m, y, predicted, q_pred), nominal),
            "calibration_coverage": round(judged[m]["coverage"], 6),
            "calibration_mean_width": round(judged[m]["mean_width"], 6),
        }
        for m, q_pred in methods.items()
    }
    booster = quantile_booster if method == "cqr" else None
    return IntervalModel(method, nominal, candidates[method]["q"], booster, candidates)


def candidate_bounds(
    model: IntervalModel, predicted: np.ndarray, quantiles: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Each calibrated method's bounds for the same rows (to report how the others fared)."""
    return {
        method: _bounds(method, predicted, quantiles, found["q"])
        for method, found in model.candidates.items()
    }


def quantile_params(native: dict[str, Any], nominal: float) -> dict[str, Any]:
    """The regression booster's parameters, turned to the two quantiles of an interval."""
    alpha = 1.0 - nominal
    params = {k: v for k, v in native.items() if k not in ("eval_metric", "objective")}
    params.update(
        objective="reg:quantileerror",
        quantile_alpha=[alpha / 2, 1 - alpha / 2],
        eval_metric="quantile",
    )
    return params


_LOADED: weakref.WeakKeyDictionary[LoadedModel, IntervalModel] = weakref.WeakKeyDictionary()


def interval_model(model: LoadedModel) -> IntervalModel:
    """A loaded regression version's interval model, built once per loaded version."""
    found = _LOADED.get(model)
    if found is not None:
        return found
    recorded = model.metadata["intervals"]
    booster = None
    if recorded.get("artifact"):
        booster = xgb.Booster()
        booster.load_model(bytearray(json.dumps(model.artifacts[recorded["artifact"]]).encode()))
    built = IntervalModel(recorded["method"], recorded["coverage"], recorded["q"], booster)
    return _LOADED.setdefault(model, built)
