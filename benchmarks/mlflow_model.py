"""Save a penguins XGBoost classifier as an MLflow model: the baseline for benchmarks/serve.py.

Runs with .mlflow/.venv's python (`make bench-mlflow-deps`), never the project's venv:
    mlflow_model.py PENGUINS_CSV OUT_DIR PARAMS_JSON
PARAMS_JSON is dsba's default hyperparameters (dsba.model.params), so the model has the platform's
rounds, depth, learning rate and early stopping on the same stratified splits (seed 42).
The two string columns (island, sex) are one-hot encoded inside an sklearn Pipeline, saved
with the sklearn flavor and a signature, so the scoring server takes the raw rows as dsba does.
"""

from __future__ import annotations

import json
import sys

import mlflow
import pandas as pd
import xgboost
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from xgboost import XGBClassifier


def main(csv: str, out: str, params_json: str) -> None:
    """Train on CSV's species and save the pipeline as an MLflow model into out."""
    params = json.loads(params_json)
    validation = params.pop("validation_fraction")
    frame = pd.read_csv(csv).dropna(subset=["species"])
    x = frame.drop(columns=["species"])
    y = frame["species"].astype("category").cat.codes.to_numpy()
    strings = list(x.select_dtypes(exclude="number").columns)
    encode = ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), strings)],
        remainder="passthrough",
    )
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    x_fit, x_val, y_fit, y_val = train_test_split(
        x_train, y_train, test_size=validation, random_state=42, stratify=y_train
    )
    encode.fit(x_fit)
    model = XGBClassifier(**params, tree_method="hist", random_state=42)
    model.fit(
        encode.transform(x_fit), y_fit, eval_set=[(encode.transform(x_val), y_val)], verbose=False
    )
    pipeline = Pipeline([("encode", encode), ("xgboost", model)])
    signature = infer_signature(x, pipeline.predict(x))
    trusted = ["xgboost.core.Booster", "xgboost.sklearn.XGBClassifier"]
    mlflow.sklearn.save_model(pipeline, out, signature=signature, skops_trusted_types=trusted)
    rounds = model.best_iteration + 1
    print(
        f"MLflow {mlflow.__version__}, sklearn flavor (one-hot + XGBClassifier, {rounds} rounds, "
        f"xgboost {xgboost.__version__})"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
