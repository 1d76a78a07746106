"""What the OpenAPI document tells a programmer first: a quick start, the token, examples."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api

BEARER = "bearerAuth"
PENGUINS_CSV = (
    "https://raw.githubusercontent.com/allisonhorst/palmerpenguins/main/inst/extdata/penguins.csv"
)

INTRO = f"""
Train XGBoost classifiers on tables, keep every version, and score rows with them.
Everything here is also in the **[web app](/)** (and the `dsba` command line):
[train in the browser](/train), then come back for the programmatic way.

## Quick start

The examples below use the Palmer penguins table ([penguins.csv]({PENGUINS_CSV}))
and a model named `penguins`; on a fresh server, do steps 1-3 once before trying the
model endpoints.

1. **Upload** the table: `POST /api/datasets` (multipart, field `file`)
   ```
   curl -F file=@penguins.csv http://HOST/api/datasets
   ```
   answers its profile; keep its `id`.
2. **Train**: `POST /api/train` with
   `{{"dataset_id": "<id>", "target": "species", "name": "penguins"}}`
   answers `202` and a job; keep its `id`.
3. **Follow the job**: `GET /api/jobs/<job id>` until `state` is `succeeded`; `model`
   then names the new version (`penguins:1`). `POST /api/jobs/<job id>/cancel` stops it.
4. **Predict**: `POST /api/predict` with `{{"model": "penguins", "records": [{{...}}]}}`,
   one object per row; the answer gives each row's label and class probabilities.

A model reference is `name` (its latest version), `name:3` or `name@production` (an alias).

## Authorization

When the server has API tokens (`DSBA_API_TOKENS`), every call but `/healthz` and
`/readyz` needs the header `Authorization: Bearer <token>`: press **Authorize** and
paste yours. `dsba token create NAME --role writer` makes one; a `reader` may list
and predict, a `writer` may also upload, train, alias and delete.

## Errors

Every failure answers JSON `{{"code", "status", "message", "errors"}}`: `message` says
what is wrong, `errors` names the fields.
"""

# A row of penguins.csv; the model the quick start trains scores it.
PENGUIN = {
    "island": "Biscoe",
    "bill_length_mm": 45.1,
    "bill_depth_mm": 14.5,
    "flipper_length_mm": 215,
    "body_mass_g": 5000,
    "sex": "female",
    "year": 2008,
}
TRAIN_EXAMPLE = {
    "dataset_id": "paste the id that POST /api/datasets answered",
    "target": "species",
    "name": "penguins",
    "params": {"max_depth": 4},
}
TRAIN_DESCRIPTION = (
    "Upload the table first (`POST /api/datasets`) and put its `id` in `dataset_id`, "
    "or give `source` (an http(s) URL or a path in the server's data folder) instead. "
    "Add `time_budget` (seconds) or `trials` to search hyperparameters and a linear model "
    "first, scored by `optimize`: the job's `progress` then reports `trial`, `total`, "
    "`seconds_left`, `best` and `metric` after each trial, then the winner's refit "
    "`round`s, and the version's metadata keeps the leaderboard under `search`."
)
PREDICT_EXAMPLE = {"model": "penguins", "records": [PENGUIN]}
PREDICT_DESCRIPTION = (
    "The example needs a model named `penguins`: train it first (the quick start above, steps 1-3)."
)


def spec_options() -> dict[str, Any]:
    """API_SPEC_OPTIONS: the introduction, and a bearer token on every operation."""
    return {"info": {"description": INTRO.strip()}, "security": [{BEARER: []}]}


def declare_security(api: Api) -> None:
    """Declare the bearer-token scheme, so Swagger UI offers "Authorize"."""
    api.spec.components.security_scheme(
        BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`dsba token create`); none is needed when "
            "the server has no tokens configured.",
        },
    )
