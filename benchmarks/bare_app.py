"""WSGI app for benchmarks/serve.py: a bare Flask JSON echo, the floor our hooks are held to.

Nothing of the project is imported: it is what any Flask app pays for the same round trip.
"""

from flask import Flask, request

app = Flask(__name__)


@app.post("/bench/echo")
def echo():
    """Answer the parsed JSON body."""
    return {"echo": request.get_json()}
