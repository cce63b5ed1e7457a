"""The JSON API under /api/v1, authenticated by bearer tokens."""

import logging

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from helpdesk.api.schema import ApiError
from helpdesk.auth import agent_for_token
from helpdesk.extensions import csrf, db

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

_PUBLIC = {"api.openapi"}


def error(status: int, code: str, message: str):
    """Return the JSON error response every API failure uses."""
    return jsonify({"error": {"code": code, "message": message}}), status


@bp.before_request
def _authenticate():
    if request.endpoint in _PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        return error(401, "unauthorized", "send Authorization: Bearer <token>")
    agent = agent_for_token(secret.strip()) if scheme.lower() == "bearer" else None
    if agent is None:
        return error(401, "unauthorized", "the token is unknown or revoked")
    g.agent = agent
    return None


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    db.session.rollback()  # a refused request changes nothing, even when it failed half-way
    return error(exc.status, exc.code, exc.message)


_HTTP_CODES = {400: "invalid_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 415: "unsupported_media_type", 429: "rate_limited"}


def _http_error(exc: HTTPException):
    response, status = error(exc.code or 500, _HTTP_CODES.get(exc.code, "error"), exc.description or exc.name)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response, status


# Registered per status code as well: Flask prefers an app-wide handler for a
# code (the console's HTML 404 page) over a blueprint's catch-all HTTPException one.
bp.register_error_handler(HTTPException, _http_error)
for _status in _HTTP_CODES:
    bp.register_error_handler(_status, _http_error)


@bp.route("/<path:anything>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unrouted(anything: str):
    """Answer 404 or 405 in JSON for the URLs under /api/v1 that no other route takes.

    Without this route Flask would answer them with the site's HTML error
    pages, since routing failures never reach the blueprint's handlers.
    """
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound(f"nothing at {request.path}")


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    db.session.rollback()
    log.exception("API request failed")
    return error(500, "internal", "the server failed; the error was logged")


from helpdesk.api import openapi, routes, sla  # noqa: E402,F401
