"""The search's bounds as the API checks them before a job is queued."""

from __future__ import annotations

MIN_TIME_BUDGET, MAX_TIME_BUDGET = 10, 86_400
MIN_TRIALS, MAX_TRIALS = 1, 10_000
