"""EXPERIMENT: bare echo, with the project's heavy imports loaded."""
import pandas, numpy, xgboost, sklearn.metrics, pyarrow  # noqa
import webapp  # noqa
from flask import Flask, request

app = Flask(__name__)


@app.post("/bench/echo")
def echo():
    return {"echo": request.get_json()}
