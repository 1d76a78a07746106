"""WSGI app for benchmarks/serve.py: the real app plus a JSON echo route, for the benchmark only."""

from flask import request

from webapp import create_app
from webapp.extensions import csrf

app = create_app()


@csrf.exempt
@app.post("/bench/echo")
def echo():
    """Answer the parsed JSON body: the cheapest JSON round trip through the same hooks."""
    return {"echo": request.get_json()}
