"""Portal views: sign in by emailed link, list and read tickets, reply, close, download."""

from __future__ import annotations

from flask import render_template

from helpdesk.portal import bp


@bp.route("/", methods=["GET", "POST"])
def index():
    """Show the customer's tickets, or the form that emails a sign-in link."""
    return render_template("portal/sign_in.html")
