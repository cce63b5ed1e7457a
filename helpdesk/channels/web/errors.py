"""Error pages in the customers' layout and language (the console keeps its own)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from helpdesk.extensions import db

#: Blueprints whose pages customers see.
PUBLIC = ("web", "portal", "kb")


def is_public() -> bool:
    """Say whether the request is for a customer-facing page."""
    return request.blueprint in PUBLIC


def page(code: int):
    """Return the customers' error page for ``code``."""
    if code >= 500:
        db.session.rollback()
    texts = {
        404: (_("Nothing here"), _("This page does not exist, or it is not yours to see. Check the link or sign in.")),
        429: (_("Too many attempts"), _("You sent this too often. Please wait a few minutes and try again.")),
        500: (_("Something went wrong"), _("We could not do that. Please try again in a moment.")),
    }
    heading, explanation = texts.get(code, texts[500])
    return render_template("public/error.html", code=code, heading=heading, explanation=explanation), code
