"""The customer's portal session, kept apart from the agents' Flask-Login session."""

from __future__ import annotations

import secrets

from flask import request, session

from helpdesk.extensions import db
from helpdesk.models import Customer, Ticket

#: Session keys of the portal; Flask-Login's keys (``_user_id`` ...) are never read or written here.
CUSTOMER_KEY = "portal_customer_id"
NONCE_KEY = "portal_nonce"
#: Tickets opened with a signed acknowledgement link: [[ticket_id, customer_id], ...].
KEYS_KEY = "portal_ticket_keys"
MAX_KEYS = 20
_CACHE = "helpdesk.portal_customer"


def current_customer() -> Customer | None:
    """Return the customer signed in to the portal, or None."""
    # Cached on the request (not on g, which an app context may share between requests).
    if _CACHE not in request.environ:
        customer_id = session.get(CUSTOMER_KEY)
        request.environ[_CACHE] = db.session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    return request.environ[_CACHE]


def sign_in(customer: Customer) -> None:
    """Start a fresh portal session for ``customer`` (dropping any earlier portal state)."""
    for key in (CUSTOMER_KEY, NONCE_KEY, KEYS_KEY):
        session.pop(key, None)
    session[CUSTOMER_KEY] = customer.id
    session[NONCE_KEY] = secrets.token_urlsafe(16)
    request.environ[_CACHE] = customer


def sign_out() -> None:
    """End the portal session (an agent's console session is untouched)."""
    for key in (CUSTOMER_KEY, NONCE_KEY, KEYS_KEY):
        session.pop(key, None)
    request.environ.pop(_CACHE, None)


def grant_ticket(ticket: Ticket) -> None:
    """Remember that this browser opened ``ticket`` with its signed link."""
    pairs = [p for p in session.get(KEYS_KEY, []) if p[0] != ticket.id]
    session[KEYS_KEY] = [*pairs, [ticket.id, ticket.customer_id]][-MAX_KEYS:]


def may_open(ticket: Ticket | None) -> bool:
    """Say whether this browser may see ``ticket``: its signed-in customer, or its signed link."""
    if ticket is None or ticket.merged_into_id:
        return False
    customer = current_customer()
    if customer is not None and ticket.customer_id == customer.id:
        return True
    return [ticket.id, ticket.customer_id] in session.get(KEYS_KEY, [])
