"""One table from domain errors to HTTP statuses; JSON under /api, HTML pages elsewhere."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from dsba.errors import (
    Conflict,
    DsbaError,
    Forbidden,
    InvalidInput,
    NotFound,
    StoreError,
    TooLarge,
)

# Most specific first: TooLarge is an InvalidInput.
STATUS_BY_ERROR: list[tuple[type[DsbaError], int]] = [
    (TooLarge, 413),
    (InvalidInput, 400),
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
    (StoreError, 503),
]


def status_for(error: DsbaError) -> int:
    """The HTTP status of a domain error."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400


def wants_json() -> bool:
    """True for API requests, which always get JSON errors."""
    return request.path.startswith("/api")


def error_response(status: int, message: str, errors: Any = None, headers: Any = None):
    """Build the JSON or HTML error response for the current request."""
    phrase = HTTPStatus(status).phrase
    if wants_json():
        body: dict[str, Any] = {"code": status, "status": phrase, "message": message}
        if errors:
            body["errors"] = errors
        response = jsonify(body)
    else:
        response = render_template(
            "errors/error.html", status=status, phrase=phrase, message=message
        )
    return response, status, headers or {}


def handle_dsba_error(error: DsbaError):
    """Answer a domain error with its mapped status."""
    if isinstance(error, StoreError):
        # The answer names what failed; the cause (an OS error with paths) goes to the log.
        current_app.logger.error(
            "store error on %s %s: %s", request.method, request.path, error.message, exc_info=error
        )
    return error_response(status_for(error), error.message, error.errors or None)


def handle_os_error(error: OSError):
    """A store that cannot be read or written: 503 naming the request, the OS error logged."""
    current_app.logger.error("OS error on %s %s", request.method, request.path, exc_info=error)
    return error_response(
        503,
        f"{request.method} {request.path} failed: the server could not read or write its "
        "store; the details are in the server log",
    )


def handle_http_exception(error: HTTPException):
    """Answer werkzeug/webargs HTTP errors in the same shape."""
    data = getattr(error, "data", None) or {}
    message = data.get("message") or error.description or HTTPStatus(error.code).phrase
    if error.code == 413:
        message = "the upload is larger than this server accepts"
    headers = dict(error.get_headers()) if error.code in (405,) else None
    if headers:
        headers.pop("Content-Type", None)
    return error_response(
        error.code or 500, message, data.get("messages") or data.get("errors"), headers
    )


def handle_unexpected(error: Exception):
    """Log the traceback and answer 500 without any detail of the server."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal server error; the details are in the server log")


def handle_recursion(error: RecursionError):
    """A JSON body nested thousands deep overflows the parser: the caller's 400, not a 500."""
    if request.is_json:
        return error_response(400, "the JSON body is nested too deeply to be read")
    return handle_unexpected(error)


def register_errorhandlers(app: Flask) -> None:
    """Install the handlers (after flask-smorest, so ours answer HTML pages with HTML)."""
    app.register_error_handler(DsbaError, handle_dsba_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(RecursionError, handle_recursion)
    app.register_error_handler(OSError, handle_os_error)
    app.register_error_handler(Exception, handle_unexpected)
