"""What the Dask training path does not do, refused before a job starts and again inside it."""

from __future__ import annotations

from typing import Any

from dsba.errors import InvalidInput

_WHERE = "this dataset trains on the Dask cluster"


def refuse_on_dask(
    *,
    optimize: str | None = None,
    params: dict[str, Any] | None = None,
    time_budget: float | None = None,
    trials: int | None = None,
) -> None:
    """Say plainly which asked-for option the Dask path lacks: it trains the given trees only."""
    # accuracy and rmse are the defaults: naming them asks for nothing Dask lacks.
    if optimize not in (None, "accuracy", "rmse"):
        raise InvalidInput(
            f"{_WHERE}, which keeps the default decision rule"
            " (accuracy, threshold 0.5): train without optimize",
            {"optimize": "not available on Dask"},
        )
    params = params or {}
    if params.get("booster") == "gblinear":
        raise InvalidInput(
            f"{_WHERE}, which trains tree boosters (booster gbtree) only:"
            " train without booster gblinear",
            {"param": "booster"},
        )
    for field, value in (("time_budget", time_budget), ("trials", trials)):
        if value is not None:
            raise InvalidInput(
                f"{_WHERE}: the Dask engine trains the given parameters without a search;"
                f" train without {field}",
                {field: "not available on Dask"},
            )
    if params.get("class_weight"):
        raise InvalidInput(
            f"{_WHERE}, which trains without class weights: train without the class_weight"
            " parameter",
            {"param": "class_weight"},
        )
