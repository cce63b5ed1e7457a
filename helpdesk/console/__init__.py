"""The agent console under /console/."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from helpdesk.console import (  # noqa: E402,F401
    admin,
    admin_mail,
    admin_sla,
    calls,
    chat,
    customers,
    display,
    errors,
    messages,
    routes,
    ticket_actions,
    tickets,
)
