"""A search as the pages show it: the job's trials, time left and best, the model's leaderboard."""

from __future__ import annotations

from typing import Any

from webapp.pages import bp
from webapp.pages.search_fields import METRIC_LABELS

# The parameters a leaderboard row names first: the ones that shape a model the most.
MAIN_PARAMS = (
    "max_depth",
    "learning_rate",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "reg_alpha",
    "scale_pos_weight",
)
SHOWN_PARAMS = 4
# The candidate column names the booster; round counts are the search's budget, not a choice.
NOT_SHAPING = frozenset(("booster", "n_estimators", "early_stopping_rounds"))
# A pruned trial was stopped (behind the best, or by the clock) before all its folds ran.
STATE_NOTES = {"pruned": "stopped early: a partial score", "failed": "failed"}


@bp.app_template_filter("duration")
def duration(seconds: Any) -> str:
    """A time budget in words: whole minutes as minutes ("5 minutes"), else seconds ("45 s")."""
    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "—"
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} s"


def metric_label(metric: str | None) -> str:
    """A metric's name as the train form lists it (RMSE, balanced accuracy, ...)."""
    if not metric:
        return "score"
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def score_text(value: Any) -> str:
    """A score with four significant digits, or a dash."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.4g}"


def is_search(progress: dict[str, Any]) -> bool:
    """Whether a job's progress record is a search's (trials) rather than rounds or rows."""
    return "trial" in progress


def search_percent(progress: dict[str, Any], time_budget: Any) -> int:
    """How far a search is: trials done of the total, else seconds spent of the budget."""
    total = progress.get("total")
    if total:
        return min(100, round(100 * progress.get("trial", 0) / total))
    left = progress.get("seconds_left")
    if time_budget and left is not None:
        return max(0, min(100, round(100 * (1 - left / time_budget))))
    return 0


def search_status(progress: dict[str, Any]) -> str:
    """Trials done, time left and the best score so far, in words (job.js writes the same)."""
    total = progress.get("total")
    text = f"Searching: {progress.get('trial', 0)} trial"
    text += "s" if progress.get("trial") != 1 else ""
    text += f" of {total} done" if total else " done"
    if progress.get("seconds_left") is not None:
        text += f" · {progress['seconds_left']:.0f} s left"
    if progress.get("best") is not None:
        label = metric_label(progress.get("metric"))
        text += f" · best {label} so far {score_text(progress['best'])}"
    return text + "."


def _params_text(params: dict[str, Any]) -> str:
    keys = [key for key in MAIN_PARAMS if key in params]
    keys += sorted(key for key in params if key not in keys and key not in NOT_SHAPING)
    return ", ".join(f"{key}={_short(params[key])}" for key in keys[:SHOWN_PARAMS])


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def leaderboard(search: dict[str, Any]) -> list[dict[str, Any]]:
    """The leaderboard's rows, best first: rank, trial, candidate, params, score, seconds."""
    winner = (search.get("winner") or {}).get("trial")
    rows = []
    for rank, row in enumerate(search.get("leaderboard") or [], start=1):
        params = row.get("params") or {}
        rows.append(
            {
                "rank": rank,
                "trial": row.get("trial"),
                "candidate": "linear" if row.get("candidate") == "gblinear" else "trees",
                "params": _params_text(params),
                "all_params": ", ".join(f"{k}={_short(v)}" for k, v in sorted(params.items())),
                "score": score_text(row.get("score")),
                "seconds": row.get("seconds"),
                "state": row.get("state", "complete"),
                "note": STATE_NOTES.get(row.get("state", "complete"), ""),
                "winner": row.get("trial") == winner,
            }
        )
    return rows


def search_summary(search: dict[str, Any]) -> dict[str, Any]:
    """The search's headline: metric, budget, trials done, validation, winner."""
    winner = search.get("winner") or {}
    return {
        "metric": metric_label(search.get("optimize")),
        "better": "higher" if search.get("direction") == "maximize" else "lower",
        "time_budget": search.get("time_budget"),
        "trials": search.get("trials"),
        "trials_done": search.get("trials_done"),
        "seconds": search.get("seconds"),
        "validation": (
            f"{search['validation']} cross-validation"
            if str(search.get("validation", "")).endswith("fold")
            else "the validation part of the training rows"
        ),
        "winner_trial": winner.get("trial"),
        "winner_candidate": "linear" if winner.get("candidate") == "gblinear" else "trees",
        "winner_score": score_text(winner.get("score")),
        "winner_rounds": winner.get("rounds"),
    }
