"""The public web channel: the help centre and the contact form."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from helpdesk.channels.web import routes  # noqa: E402,F401  (registers the views)
