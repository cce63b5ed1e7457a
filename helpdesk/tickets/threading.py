"""Decide which existing ticket an inbound message belongs to, if any.

In this order: a ticket the channel already knows; a stored Message-ID in
In-Reply-To/References; the reference in the subject when the sender is that
ticket's customer. Never a fuzzy match on the subject.
"""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select

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


def reference_in_subject(subject: str) -> Ticket | None:
    """Return the ticket whose ``[HD-1042]`` reference stands in ``subject``."""
    prefix = re.escape(current_app.config.get("REFERENCE_PREFIX", "HD"))
    for match in re.finditer(rf"\[({prefix}-\d{{1,12}})\]", subject or "", re.I):
        ticket_id = parse_reference(match[1])
        ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
        if ticket is not None:
            return ticket
    return None


def find_ticket(inbound, customer: Customer) -> tuple[Ticket | None, str]:
    """Return the ticket ``inbound`` continues (or None) and why."""
    if inbound.ticket_id:
        return _followed(db.session.get(Ticket, inbound.ticket_id)), "known conversation"
    if inbound.in_reply_to:
        ids = [i for i in inbound.in_reply_to if i][-50:]
        message = db.session.scalar(
            select(Message).where(Message.external_id.in_(ids)).order_by(Message.id.desc()).limit(1)
        )
        if message is not None:
            return _followed(message.ticket), "threaded by In-Reply-To/References"
    ticket = reference_in_subject(inbound.subject)
    if ticket is not None:
        if ticket.customer_id == customer.id:
            return _followed(ticket), f"threaded by reference {ticket.reference} in the subject"
    return None, "new ticket"
