"""Decide which existing ticket an inbound message belongs to, if any.

In this order, first match wins:

1. a ticket the channel already knows (a chat conversation, a portal reply);
2. one of our own signed Message-IDs in In-Reply-To or References;
3. any other stored Message-ID in those headers;
4. the reference in the subject (``[HD-1042]``), but only when the sender is
   that ticket's customer or was copied on it;
5. otherwise none: a new ticket. Never a fuzzy match on the subject.
"""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select

from helpdesk.channels.email.ids import parse_own_id
from helpdesk.extensions import db
from helpdesk.models import Customer, Message, Ticket
from helpdesk.models.ticket import parse_reference


def _followed(ticket: Ticket | None) -> Ticket | None:
    """Follow merges to the ticket that carries the conversation now."""
    seen = set()
    while ticket is not None and ticket.merged_into_id and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = ticket.merged_into
    return ticket


def references_in_subject(subject: str) -> list[Ticket]:
    """Return the tickets whose ``[HD-1042]`` references stand in ``subject``."""
    prefix = re.escape(current_app.config.get("REFERENCE_PREFIX", "HD"))
    found = []
    for match in re.finditer(rf"\[({prefix}-\d{{1,12}})\]", subject or "", re.I):
        ticket_id = parse_reference(match[1])
        ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
        if ticket is not None:
            found.append(ticket)
    return found


def _header_ids(inbound) -> list[tuple[str, str]]:
    """Return (header name, id) pairs, In-Reply-To first, newest References first."""
    pairs = [("In-Reply-To", i) for i in inbound.in_reply_to if i]
    pairs += [("References", i) for i in reversed(inbound.references) if i]
    return pairs[:100]


def _by_own_id(inbound) -> tuple[Ticket | None, str]:
    for header, value in _header_ids(inbound):
        message_id = parse_own_id(value)
        message = db.session.get(Message, message_id) if message_id else None
        if message is not None:
            return _followed(message.ticket), f"threaded by our Message-ID in {header}"
    return None, ""


def _by_stored_id(inbound) -> tuple[Ticket | None, str]:
    pairs = _header_ids(inbound)
    if not pairs:
        return None, ""
    rows = db.session.execute(
        select(Message.external_id, Message.ticket_id).where(Message.external_id.in_([v for _, v in pairs]))
    ).all()
    tickets = dict(rows)
    for header, value in pairs:
        if value in tickets:
            return _followed(db.session.get(Ticket, tickets[value])), f"threaded by {header}"
    return None, ""


def participants(ticket: Ticket) -> set[str]:
    """Return every address that may write to ``ticket``: its customer's and those copied on it."""
    addresses = {i.value for i in ticket.customer.identities if i.kind == "email"}
    for message in ticket.messages:
        addresses.update((message.meta or {}).get("participants", []))
    return addresses


def _by_subject(inbound, customer: Customer) -> tuple[Ticket | None, str]:
    sender = (inbound.contact.email or "").strip().lower()
    for ticket in references_in_subject(inbound.subject):
        if ticket.customer_id == customer.id or (sender and sender in participants(ticket)):
            return _followed(ticket), f"threaded by reference {ticket.reference} in the subject"
    return None, ""


def find_ticket(inbound, customer: Customer) -> tuple[Ticket | None, str]:
    """Return the ticket ``inbound`` continues (or None) and why."""
    if inbound.ticket_id:
        return _followed(db.session.get(Ticket, inbound.ticket_id)), "known conversation"
    for strategy in (_by_own_id, _by_stored_id):
        ticket, reason = strategy(inbound)
        if ticket is not None:
            return ticket, reason
    ticket, reason = _by_subject(inbound, customer)
    if ticket is not None:
        return ticket, reason
    return None, "new ticket"
