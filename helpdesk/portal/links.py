"""Signed links that open one ticket in the customer portal without signing in."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "portal-ticket"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def ticket_key(ticket) -> str:
    """Return the key that proves a link was made for this ticket and this customer."""
    return _serializer().dumps([ticket.id, ticket.customer_id])


def ticket_url(ticket) -> str:
    """Return the absolute portal link to ``ticket`` (put in acknowledgements)."""
    return f"{current_app.config['BASE_URL']}/portal/tickets/{ticket.reference}?key={ticket_key(ticket)}"


def check_key(ticket, key: str | None) -> bool:
    """Say whether ``key`` was made for ``ticket`` and its current customer."""
    try:
        return _serializer().loads(key or "") == [ticket.id, ticket.customer_id]
    except BadSignature:
        return False
