"""Error pages for people (the API answers its own errors in JSON)."""

from __future__ import annotations

from flask import render_template, request
from werkzeug.exceptions import HTTPException

from helpdesk.channels.web import errors as public_errors
from helpdesk.console import bp
from helpdesk.extensions import db

_PAGES = {403: "errors/403.html", 404: "errors/404.html", 500: "errors/500.html"}


def _page(exc: HTTPException):
    if request.path.startswith("/api/"):
        return exc  # keep the API's JSON shape for paths no API route matched
    if public_errors.is_public():
        return public_errors.page(exc.code)
    return render_template(_PAGES[exc.code]), exc.code


@bp.app_errorhandler(403)
def forbidden(exc):
    """Show the 403 page."""
    return _page(exc)


@bp.app_errorhandler(404)
def not_found(exc):
    """Show the 404 page."""
    return _page(exc)


@bp.app_errorhandler(500)
def server_error(exc):
    """Show the 500 page after undoing the failed transaction."""
    db.session.rollback()
    return _page(exc)
