"""FLAML's AutoML on one split, for benchmarks/quality.py; run by FLAML's own venv, never ours.

`python flaml_automl.py TRAIN TEST OUT SETTINGS` reads the training and test rows (Parquet),
fits `flaml.AutoML` on the training rows under the time budget, writes its test predictions
to OUT (Parquet, one column "prediction") and prints one `RESULT {json}` line. SETTINGS is
JSON: {"target", "task": "classification" | "regression", "metric": "accuracy" |
"balanced_accuracy" | "r2", "budget": seconds, "threads": n (0 = all cores), "seed": n}.
"""

from __future__ import annotations

import json
import sys
import time

import flaml
import pandas as pd
from flaml import AutoML
from sklearn.metrics import balanced_accuracy_score


def balanced_accuracy(x_val, y_val, estimator, *_args, **_kwargs):
    """FLAML's custom-metric shape: a loss to minimise and the figures to log."""
    score = balanced_accuracy_score(y_val, estimator.predict(x_val))
    return 1.0 - score, {"balanced_accuracy": score}


def features(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The feature columns, text as pandas categories (FLAML's documented categorical input)."""
    x = frame.drop(columns=[target])
    for name in x.columns:
        if not (pd.api.types.is_numeric_dtype(x[name]) or pd.api.types.is_bool_dtype(x[name])):
            x[name] = x[name].astype("category")
    return x


def main() -> None:
    """Fit on TRAIN, predict TEST, write OUT, report what was chosen."""
    train_path, test_path, out_path, raw = sys.argv[1:5]
    settings = json.loads(raw)
    target = settings["target"]
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    y = train[target]
    if settings["task"] == "classification":
        # Labels as plain strings: FLAML label-encodes object targets itself.
        y = y.astype(str).astype(object)
    metric = settings["metric"]
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        features(train, target),
        y,
        task=settings["task"],
        time_budget=settings["budget"],
        metric=balanced_accuracy if metric == "balanced_accuracy" else metric,
        n_jobs=settings["threads"] or -1,
        seed=settings["seed"],
        verbose=0,
    )
    seconds = time.perf_counter() - started
    predicted = automl.predict(features(test, target))
    pd.DataFrame({"prediction": predicted}).to_parquet(out_path)
    result = {"seconds": seconds, "estimator": automl.best_estimator, "flaml": flaml.__version__}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
