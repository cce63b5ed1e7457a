"""The JSON API under /api/v1, authenticated by bearer tokens."""

import logging

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

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
    return error(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
            415: "unsupported_media_type", 429: "rate_limited"}.get(exc.code, "error")
    return error(exc.code or 500, code, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    db.session.rollback()
    log.exception("API request failed")
    return error(500, "internal", "the server failed; the error was logged")


from helpdesk.api import openapi, routes  # noqa: E402,F401
